/**
 * The attic upload API end to end inside one process: framing (header and preamble), chunked and
 * whole NARs, the narinfo and NAR served afterwards, NAR- and chunk-level dedup, and bad input that
 * must leave nothing visible behind. Runs on every database kind.
 */
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { brotliDecompressSync } from "node:zlib";
import { fingerprint, parseNarInfo, verifySignature } from "@garret/nix";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createTestApp, type TestApp } from "../../../../test/support/app.ts";
import { expectSameBytes } from "../../../../test/support/bytes.ts";
import {
  lcgBytes,
  makeNar,
  narOfFile,
  randomStorePathHash,
  sha256Hex,
} from "../../../../test/support/nar.ts";
import { describeEachDb } from "../../../../test/support/postgres.ts";
import { zstdDecompressSync } from "../../../../test/support/zstd.ts";

describeEachDb("attic upload API", (getDb, kind) => {
  let t: TestApp;
  let publicKey: string;

  beforeAll(async () => {
    t = await createTestApp({
      db: getDb(),
      settings: { chunking: { narSizeThreshold: 1024, minSize: 1024, avgSize: 4096, maxSize: 16_384 } },
    });
    await t.createCache("up");
    await t.createCache("up2");
    const cfg = await t.request("/_api/v1/cache-config/up", { token: t.rootToken });
    publicKey = ((await cfg.json()) as { public_key: string }).public_key;
  });
  afterAll(() => t.close());

  interface Upload {
    cache?: string;
    hash?: string;
    name?: string;
    nar: Buffer;
    references?: string[];
    narHash?: string;
    narSize?: number;
    preamble?: boolean;
    body?: Buffer;
    token?: string | null;
  }

  async function upload(u: Upload) {
    const hash = u.hash ?? randomStorePathHash();
    const info = {
      cache: u.cache ?? "up",
      store_path_hash: hash,
      store_path: `/nix/store/${hash}-${u.name ?? "test-path"}`,
      references: u.references ?? [],
      system: null,
      deriver: null,
      sigs: [],
      ca: null,
      nar_hash: u.narHash ?? sha256Hex(u.nar),
      nar_size: u.narSize ?? u.nar.length,
    };
    const json = Buffer.from(JSON.stringify(info));
    const headers: Record<string, string> = {};
    let body = u.body ?? u.nar;
    if (u.preamble) {
      headers["x-attic-nar-info-preamble-size"] = String(json.length);
      body = Buffer.concat([json, body]);
    } else {
      headers["x-attic-nar-info"] = json.toString();
    }
    const res = await t.request("/_api/v1/upload-path", {
      method: "PUT",
      token: u.token === undefined ? t.rootToken : u.token,
      headers,
      body,
    });
    return { res, json: (await res.json()) as Record<string, unknown>, hash, info };
  }

  async function narinfo(cache: string, hash: string) {
    return t.request(`/${cache}/${hash}.narinfo`, { token: t.rootToken });
  }

  async function download(cache: string, hash: string): Promise<Buffer> {
    const res = await t.request(`/${cache}/nar/${hash}.nar`, { token: t.rootToken });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/x-nix-nar");
    return zstdDecompressSync(Buffer.from(await res.arrayBuffer()));
  }

  async function storedFiles(): Promise<number> {
    let n = 0;
    const walk = async (dir: string): Promise<void> => {
      for (const e of await readdir(dir, { withFileTypes: true })) {
        if (e.isDirectory()) await walk(join(dir, e.name));
        else if (e.name !== "VERSION") n++;
      }
    };
    await walk(t.storageDir);
    return n;
  }

  describe("upload-path", () => {
    it("answers 404 NoSuchCache when the cache is destroyed while the upload streams", async () => {
      await t.createCache("doomed");
      // More than an ingest segment arrives first: its chunks are stored (so the request is past
      // authorization and well into the upload) while the rest is held back.
      const nar = makeNar({ type: "regular", contents: lcgBytes(6_000_000, 31) });
      const first = 5_000_000;
      let release = () => {};
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      const body = new ReadableStream<Uint8Array>({
        async start(controller) {
          controller.enqueue(nar.subarray(0, first));
          await held;
          controller.enqueue(nar.subarray(first));
          controller.close();
        },
      });
      const filesBefore = await storedFiles();
      const answer = upload({ cache: "doomed", nar, body: body as unknown as Buffer });
      await vi.waitFor(async () => expect(await storedFiles()).toBeGreaterThan(filesBefore), {
        timeout: 60_000,
        interval: 50,
      });
      const destroyed = await t.request("/_api/v1/cache-config/doomed", {
        method: "DELETE",
        token: t.rootToken,
      });
      expect(destroyed.status).toBe(200);
      release();
      const { res, json } = await answer;
      expect({ status: res.status, error: json.error }).toEqual({ status: 404, error: "NoSuchCache" });
    });

    it("stores a small NAR whole and serves atticd's exact narinfo, signed", async () => {
      const nar = narOfFile("Hi! I have no dependencies.\n");
      const ref = `${randomStorePathHash()}-dep`;
      const { res, json, hash, info } = await upload({ nar, name: "no-deps", references: [ref] });
      expect(res.status).toBe(200);
      expect(json).toMatchObject({ kind: "Uploaded", frac_deduplicated: null });
      expect(typeof json.file_size).toBe("number");

      const r = await narinfo("up", hash);
      expect(r.status).toBe(200);
      expect(r.headers.get("content-type")).toBe("text/x-nix-narinfo");
      const text = await r.text();
      const sigLine = text.split("\n").find((l) => l.startsWith("Sig: ")) ?? "";
      const expected = [
        `StorePath: ${info.store_path}`,
        `URL: nar/${hash}.nar`,
        "Compression: zstd",
        `NarHash: ${sha256Hex(nar)}`,
        `NarSize: ${nar.length}`,
        `References: ${ref}`,
        sigLine,
        "",
      ].join("\n");
      expect(text).toBe(expected);
      const print = fingerprint(info.store_path, sha256Hex(nar), nar.length, [ref]);
      expect(verifySignature(publicKey, print, sigLine.slice(5))).toBe(true);
      expect(parseNarInfo(text).narSize).toBe(nar.length);
      expectSameBytes(await download("up", hash), nar);
    });

    it("writes `References: ` with its trailing space when there are none", async () => {
      const { hash } = await upload({ nar: narOfFile("no refs") });
      const text = await (await narinfo("up", hash)).text();
      expect(text).toContain("\nReferences: \n");
    });

    it("accepts the NAR info as a body preamble", async () => {
      const nar = narOfFile("via preamble");
      const { res, hash } = await upload({ nar, preamble: true });
      expect(res.status).toBe(200);
      expectSameBytes(await download("up", hash), nar);
    });

    it("chunks a large NAR, dedups it across caches, and reuses chunks of a changed version", async () => {
      const big = lcgBytes(400_000, 7);
      const nar = makeNar({ type: "directory", entries: { a: { type: "regular", contents: big } } });
      const first = await upload({ nar });
      expect(first.json).toMatchObject({ kind: "Uploaded", frac_deduplicated: 0 });
      expectSameBytes(await download("up", first.hash), nar);
      const filesAfterFirst = await storedFiles();

      const second = await upload({ nar, cache: "up2" });
      expect(second.json).toEqual({ kind: "Deduplicated", frac_deduplicated: null });
      expect(await storedFiles()).toBe(filesAfterFirst);
      expectSameBytes(await download("up2", second.hash), nar);

      const changed = Buffer.from(big);
      changed.write("a small change in the middle", 200_000);
      const nar2 = makeNar({ type: "directory", entries: { a: { type: "regular", contents: changed } } });
      const third = await upload({ nar: nar2, cache: "up2" });
      expect(third.json.kind).toBe("Uploaded");
      expect(third.json.frac_deduplicated as number).toBeGreaterThan(0.8);
      expectSameBytes(await download("up2", third.hash), nar2);
    });

    it("re-uploading a path replaces its metadata", async () => {
      const hash = randomStorePathHash();
      await upload({ nar: narOfFile("v1"), hash });
      await upload({ nar: narOfFile("v2"), hash });
      expectSameBytes(await download("up", hash), narOfFile("v2"));
    });
  });

  describe("upload-path rejects bad input and leaves nothing visible", () => {
    const cases: Array<[string, (nar: Buffer) => Partial<Upload>, RegExp]> = [
      [
        "a wrong NAR hash",
        (nar) => ({ narHash: sha256Hex(Buffer.concat([nar, Buffer.from("x")])) }),
        /Bad NAR Hash or Size/,
      ],
      ["a wrong NAR size", (nar) => ({ narSize: nar.length + 8 }), /Bad NAR Hash or Size/],
      ["a truncated body", (nar) => ({ body: nar.subarray(0, nar.length - 16) }), /Bad NAR Hash or Size/],
      [
        "a malformed NAR with a matching hash",
        () => {
          const junk = Buffer.from("this is not a nix archive at all!");
          return { nar: junk };
        },
        /Invalid NAR/,
      ],
      ["an invalid hash format", () => ({ narHash: "md5:abc" }), /Invalid NAR hash/],
    ];
    it.each(cases)("%s → 400 RequestError", async (_name, mutate, message) => {
      const base = makeNar({ type: "regular", contents: lcgBytes(50_000, 3) });
      const u: Upload = { nar: base, ...mutate(base) };
      const before = await storedFiles();
      const { res, json, hash } = await upload(u);
      expect(res.status).toBe(400);
      expect(json.error).toBe("RequestError");
      expect(String(json.message)).toMatch(message);
      expect((await narinfo("up", hash)).status).toBe(404);
      const missing = await t.request("/_api/v1/get-missing-paths", {
        method: "POST",
        token: t.rootToken,
        body: JSON.stringify({ cache: "up", store_path_hashes: [hash] }),
      });
      expect(await missing.json()).toEqual({ missing_paths: [hash] });
      void before;
    });

    it("a store path that does not match its hash is rejected", async () => {
      const nar = narOfFile("mismatch");
      const hash = randomStorePathHash();
      const res = await t.request("/_api/v1/upload-path", {
        method: "PUT",
        token: t.rootToken,
        headers: {
          "x-attic-nar-info": JSON.stringify({
            cache: "up",
            store_path_hash: hash,
            store_path: `/nix/store/${randomStorePathHash()}-other`,
            references: [],
            nar_hash: sha256Hex(nar),
            nar_size: nar.length,
          }),
        },
        body: nar,
      });
      expect(res.status).toBe(400);
    });

    it.each([
      ["no NAR info at all", {}, /X-Attic-Nar-Info must be set/],
      [
        "a preamble size that is not a number",
        { "x-attic-nar-info-preamble-size": "12a" },
        /valid unsigned integer/,
      ],
      [
        "a preamble larger than max-nar-info-size",
        { "x-attic-nar-info-preamble-size": "99999999" },
        /too large/,
      ],
      ["malformed NAR info JSON", { "x-attic-nar-info": "{" }, /Invalid NAR info JSON/],
      ["NAR info of the wrong shape", { "x-attic-nar-info": '{"cache":"up"}' }, /Invalid NAR info/],
    ] as Array<[string, Record<string, string>, RegExp]>)("%s → 400", async (_n, headers, message) => {
      const res = await t.request("/_api/v1/upload-path", {
        method: "PUT",
        token: t.rootToken,
        headers,
        body: "x",
      });
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: string; message: string };
      expect(body.error).toBe("RequestError");
      expect(body.message).toMatch(message);
    });

    it("leaves no NAR rows behind after failures", async () => {
      const rows = await t.db.withSession((s) =>
        s.query<{ n: number }>("SELECT CAST(count(*) AS integer) AS n FROM nar WHERE state <> 'V'"),
      );
      expect(rows[0]?.n).toBe(0);
    });
  });

  describe("NARs stored as one chunk", () => {
    it.each([
      [
        "brotli (streams cannot be concatenated, so never chunked)",
        { compression: { type: "brotli" as const } },
        300_000,
      ],
      [
        "threshold 0, streamed through compression above 16 MiB",
        { chunking: { narSizeThreshold: 0, minSize: 16_384, avgSize: 65_536, maxSize: 262_144 } },
        17_000_000,
      ],
    ])("%s", async (_name, settings, size) => {
      const app = await createTestApp({ dbKind: kind, settings });
      try {
        await app.createCache("whole");
        const nar = makeNar({ type: "regular", contents: lcgBytes(size, 5) });
        const hash = randomStorePathHash();
        const res = await app.request("/_api/v1/upload-path", {
          method: "PUT",
          token: app.rootToken,
          headers: {
            "x-attic-nar-info": JSON.stringify({
              cache: "whole",
              store_path_hash: hash,
              store_path: `/nix/store/${hash}-whole`,
              references: [],
              nar_hash: sha256Hex(nar),
              nar_size: nar.length,
            }),
          },
          body: nar,
        });
        expect(res.status, await res.clone().text()).toBe(200);
        const chunks = await app.db.withSession((s) =>
          s.query<{ n: number }>("SELECT CAST(count(*) AS integer) AS n FROM chunk"),
        );
        expect(chunks[0]?.n).toBe(1);
        const text = await (await app.request(`/whole/${hash}.narinfo`, { token: app.rootToken })).text();
        const served = await app.request(`/whole/nar/${hash}.nar`, { token: app.rootToken });
        const body = Buffer.from(await served.arrayBuffer());
        if (text.includes("Compression: br")) {
          expectSameBytes(brotliDecompressSync(body), nar);
        } else {
          expect(text).toContain("Compression: zstd");
          expectSameBytes(zstdDecompressSync(body), nar);
        }
      } finally {
        await app.close();
      }
    });
  });
});
