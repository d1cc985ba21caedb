/**
 * Plain `nix copy --to` uploads inside one process: the request sequence Nix 2.8 sends (HEAD and PUT
 * of `nar/<filehash>.nar.<ext>`, then PUT of the narinfo), every compression Nix can use, the
 * narinfo garret serves afterwards (its own, signed by the cache key), proof of possession, and the
 * 4xx answers every client mistake must get. Runs on every database kind.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { brotliCompressSync, brotliDecompressSync, gzipSync } from "node:zlib";
import { fingerprint, formatNarInfo, parseNarInfo, toNixBase32, verifySignature } from "@garret/nix";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../../../../test/support/app.ts";
import {
  lcgBytes,
  makeNar,
  narOfFile,
  randomStorePathHash,
  sha256Hex,
} from "../../../../test/support/nar.ts";
import { describeEachDb } from "../../../../test/support/postgres.ts";
import { zstdDecompressSync } from "../../../../test/support/zstd.ts";
import { runGarbageCollection } from "../gc/run-gc.ts";
import { silentLogger } from "../log.ts";

const CHUNKING = { narSizeThreshold: 1024, minSize: 1024, avgSize: 4096, maxSize: 16_384 };

describeEachDb("nix copy --to", (getDb, kind) => {
  let t: TestApp;
  let publicKey: string;
  let pusher: string;
  let reader: string;

  beforeAll(async () => {
    t = await createTestApp({ db: getDb(), settings: { chunking: CHUNKING } });
    await t.createCache("nc");
    await t.createCache("nc2");
    const cfg = await t.request("/_api/v1/cache-config/nc", { token: t.rootToken });
    publicKey = ((await cfg.json()) as { public_key: string }).public_key;
    pusher = await t.mintToken("pusher", { "nc*": ["r", "w"] });
    reader = await t.mintToken("reader", { "nc*": ["r"] });
  });
  afterAll(() => t.close());

  type Compression = "xz" | "zstd" | "bzip2" | "gzip" | "br" | "none";

  const EXTENSION: Record<Compression, string> = {
    xz: ".xz",
    zstd: ".zst",
    bzip2: ".bz2",
    br: ".br",
    gzip: "",
    none: "",
  };

  function run(cmd: string, args: string[], input: Buffer): Buffer {
    const r = spawnSync(cmd, args, { input, maxBuffer: 1 << 30 });
    if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
    return r.stdout;
  }

  function compress(nar: Buffer, compression: Compression): Buffer {
    switch (compression) {
      case "xz":
        return run("xz", ["-c", "-1"], nar);
      case "zstd":
        return run("zstd", ["-c", "-q"], nar);
      case "bzip2":
        return run("bzip2", ["-c"], nar);
      case "gzip":
        return gzipSync(nar);
      case "br":
        return brotliCompressSync(nar);
      case "none":
        return nar;
    }
  }

  function nix32Sha256(data: Uint8Array): string {
    return toNixBase32(createHash("sha256").update(data).digest());
  }

  /** One store path as `nix copy --to` would push it: the compressed file and the client's narinfo. */
  function nixPath(
    nar: Buffer,
    opts: { compression?: Compression; name?: string; references?: string[] } = {},
  ) {
    const compression = opts.compression ?? "xz";
    const hash = randomStorePathHash();
    const storePath = `/nix/store/${hash}-${opts.name ?? "nix-copied"}`;
    const file = compress(nar, compression);
    const fileHash = nix32Sha256(file);
    const url = `nar/${fileHash}.nar${EXTENSION[compression]}`;
    const narinfo = {
      storePath,
      url,
      compression,
      fileHash: `sha256:${fileHash}`,
      fileSize: file.length,
      narHash: `sha256:${nix32Sha256(nar)}`,
      narSize: nar.length,
      references: opts.references ?? [],
      sigs: ["client-key-1:dGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZSBidXQgaXMga2VwdCBhcyBtZXRhZGF0YQ=="],
    };
    return { hash, storePath, nar, file, fileHash, url, narinfo, text: formatNarInfo(narinfo) };
  }

  type NixPath = ReturnType<typeof nixPath>;

  const put = (cache: string, path: string, body: Uint8Array | string, token: string | null = pusher) =>
    t.request(`/${cache}/${path}`, {
      method: "PUT",
      token,
      headers: { "content-type": path.endsWith(".narinfo") ? "text/x-nix-narinfo" : "application/x-nix-nar" },
      body,
    });
  const head = (cache: string, path: string, token: string | null = pusher) =>
    t.request(`/${cache}/${path}`, { method: "HEAD", token });

  async function push(cache: string, p: NixPath, token: string | null = pusher) {
    const nar = await put(cache, p.url, p.file, token);
    const narinfo = await put(cache, `${p.hash}.narinfo`, p.text, token);
    return { nar, narinfo };
  }

  async function errorOf(res: Response): Promise<{ status: number; error: string; message: string }> {
    const body = (await res.json()) as { error: string; message: string };
    return { status: res.status, ...body };
  }

  async function missing(cache: string, hashes: string[]): Promise<string[]> {
    const res = await t.request("/_api/v1/get-missing-paths", {
      method: "POST",
      token: t.rootToken,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ cache, store_path_hashes: hashes }),
    });
    return ((await res.json()) as { missing_paths: string[] }).missing_paths;
  }

  async function download(cache: string, hash: string): Promise<Buffer> {
    const res = await t.request(`/${cache}/nar/${hash}.nar`, { token: t.rootToken });
    expect(res.status).toBe(200);
    return zstdDecompressSync(Buffer.from(await res.arrayBuffer()));
  }

  async function count(table: string): Promise<number> {
    const rows = await t.db.withSession((s) =>
      s.query<{ n: number }>(`SELECT CAST(count(*) AS integer) AS n FROM ${table}`),
    );
    return Number(rows[0]?.n);
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

  describe("nix copy --to uploads", () => {
    it("takes Nix's request sequence and serves its own narinfo, signed by the cache key", async () => {
      const ref = `${randomStorePathHash()}-not-in-cache`;
      const p = nixPath(narOfFile("hello from nix copy\n"), { references: [ref] });

      expect((await put("nc", "nix-cache-info", "StoreDir: /nix/store\n")).status).toBe(204);
      expect((await head("nc", p.url)).status).toBe(404);
      const nar = await put("nc", p.url, p.file);
      expect(nar.status).toBe(200);
      expect(await nar.json()).toMatchObject({
        nar_hash: sha256Hex(p.nar),
        nar_size: p.nar.length,
        file_size: p.file.length,
      });
      expect((await head("nc", p.url)).status).toBe(200);
      expect(await missing("nc", [p.hash])).toEqual([p.hash]);

      const narinfo = await put("nc", `${p.hash}.narinfo`, p.text);
      expect(narinfo.status).toBe(200);
      expect(await narinfo.json()).toEqual({ outcome: "uploaded" });
      expect(await missing("nc", [p.hash])).toEqual([]);
      expect((await head("nc", p.url)).status).toBe(404);

      const served = await t.request(`/nc/${p.hash}.narinfo`, { token: reader });
      expect(served.status).toBe(200);
      const info = parseNarInfo(await served.text());
      expect(info).toMatchObject({
        storePath: p.storePath,
        url: `nar/${p.hash}.nar`,
        compression: "zstd",
        narHash: sha256Hex(p.nar),
        narSize: p.nar.length,
        references: [ref],
      });
      expect(info.fileHash).toBeUndefined();
      expect(info.sigs).toHaveLength(1);
      expect(info.sigs[0]?.startsWith("nc:")).toBe(true);
      const print = fingerprint(info.storePath, info.narHash, info.narSize, info.references);
      expect(verifySignature(publicKey, print, info.sigs[0] as string)).toBe(true);
      expect(await download("nc", p.hash)).toEqual(p.nar);

      // The download name still answers HEAD through the read routes.
      expect((await t.request(`/nc/nar/${p.hash}.nar`, { method: "HEAD", token: reader })).status).toBe(200);
    });

    it.each([
      "xz",
      "zstd",
      "bzip2",
      "gzip",
      "br",
      "none",
    ] as const)("accepts %s-compressed NARs, small and chunked", async (compression) => {
      const small = nixPath(narOfFile(`small ${compression}\n`), { compression });
      const big = nixPath(makeNar({ type: "regular", contents: lcgBytes(200_000, compression.length) }), {
        compression,
      });
      for (const p of [small, big]) {
        const r = await push("nc", p);
        expect(r.nar.status, await r.nar.clone().text()).toBe(200);
        expect(r.narinfo.status, await r.narinfo.clone().text()).toBe(200);
        expect(await download("nc", p.hash)).toEqual(p.nar);
      }
    });

    it("chunks exactly like the attic API, so the same NAR pushed both ways is stored once", async () => {
      const nar = makeNar({ type: "regular", contents: lcgBytes(300_000, 7) });
      const p = nixPath(nar, { compression: "zstd" });
      const r = await push("nc", p);
      expect(r.narinfo.status).toBe(200);
      const files = await storedFiles();
      const hash = randomStorePathHash();
      const info = {
        cache: "nc2",
        store_path_hash: hash,
        store_path: `/nix/store/${hash}-attic-copy`,
        references: [],
        system: null,
        deriver: null,
        sigs: [],
        ca: null,
        nar_hash: sha256Hex(nar),
        nar_size: nar.length,
      };
      const attic = await t.request("/_api/v1/upload-path", {
        method: "PUT",
        token: t.rootToken,
        headers: { "x-attic-nar-info": JSON.stringify(info) },
        body: nar,
      });
      expect(await attic.json()).toEqual({ kind: "Deduplicated", frac_deduplicated: null });

      // And the other way round: an attic upload first, then nix copy of the same NAR.
      const nar2 = makeNar({ type: "regular", contents: lcgBytes(300_000, 8) });
      const hash2 = randomStorePathHash();
      const upload2 = await t.request("/_api/v1/upload-path", {
        method: "PUT",
        token: t.rootToken,
        headers: {
          "x-attic-nar-info": JSON.stringify({
            ...info,
            store_path_hash: hash2,
            store_path: `/nix/store/${hash2}-attic-first`,
            nar_hash: sha256Hex(nar2),
            nar_size: nar2.length,
          }),
        },
        body: nar2,
      });
      expect(upload2.status).toBe(200);
      const filesAfterAttic = await storedFiles();
      expect(filesAfterAttic).toBeGreaterThan(files);
      const p2 = nixPath(nar2, { compression: "xz" });
      const putNar = await put("nc", p2.url, p2.file);
      const body = (await putNar.json()) as { chunks: number; deduplicated_chunks: number };
      expect(body.chunks).toBeGreaterThan(1);
      expect(body.deduplicated_chunks).toBe(body.chunks);
      const narinfo = await put("nc", `${p2.hash}.narinfo`, p2.text);
      expect(await narinfo.json()).toEqual({ outcome: "deduplicated" });
      expect(await storedFiles()).toBe(filesAfterAttic);
      expect(await download("nc", p2.hash)).toEqual(nar2);
    });

    it("skips the NAR when HEAD says it is there (a retried push)", async () => {
      const p = nixPath(narOfFile("retried\n"));
      expect((await put("nc", p.url, p.file)).status).toBe(200);
      // The first narinfo PUT never arrived; the retry finds the NAR by HEAD and sends only the narinfo.
      expect((await head("nc", p.url)).status).toBe(200);
      const narinfo = await put("nc", `${p.hash}.narinfo`, p.text);
      expect(await narinfo.json()).toEqual({ outcome: "uploaded" });
    });

    it("links a narinfo to a NAR this cache already holds, but never to another cache's NAR", async () => {
      const nar = narOfFile("held already\n");
      const first = nixPath(nar);
      expect((await push("nc", first)).narinfo.status).toBe(200);

      const sameCache = nixPath(nar, { name: "same-contents" });
      const linked = await put("nc", `${sameCache.hash}.narinfo`, sameCache.text);
      expect(await linked.json()).toEqual({ outcome: "linked" });
      expect(await download("nc", sameCache.hash)).toEqual(nar);

      const otherCache = nixPath(nar, { name: "elsewhere" });
      const refused = await errorOf(await put("nc2", `${otherCache.hash}.narinfo`, otherCache.text));
      expect(refused.status).toBe(400);
      expect(refused.message).toContain("narinfo names a NAR that was never uploaded");
      expect(await missing("nc2", [otherCache.hash])).toEqual([otherCache.hash]);
    });

    it("links to any held NAR when proof of possession is off", async () => {
      const t2 = await createTestApp({
        dbKind: kind,
        settings: { chunking: CHUNKING, requireProofOfPossession: false },
      });
      try {
        await t2.createCache("a");
        await t2.createCache("b");
        const nar = narOfFile("no proof needed\n");
        const p = nixPath(nar);
        const send = (cache: string, path: string, body: Uint8Array | string) =>
          t2.request(`/${cache}/${path}`, { method: "PUT", token: t2.rootToken, body });
        expect((await send("a", p.url, p.file)).status).toBe(200);
        expect((await send("a", `${p.hash}.narinfo`, p.text)).status).toBe(200);
        const other = nixPath(nar, { name: "other" });
        const res = await send("b", `${other.hash}.narinfo`, other.text);
        expect(await res.json()).toEqual({ outcome: "linked" });
      } finally {
        await t2.close();
      }
    });

    it("answers a narinfo for a NAR never uploaded with 400", async () => {
      const p = nixPath(narOfFile("never sent\n"));
      const e = await errorOf(await put("nc", `${p.hash}.narinfo`, p.text));
      expect(e).toMatchObject({ status: 400, error: "RequestError" });
      expect(e.message).toContain(`narinfo names a NAR that was never uploaded to this cache (${p.url})`);
    });

    it("rejects a NAR whose bytes do not match the file hash in its URL", async () => {
      const p = nixPath(narOfFile("file hash\n"));
      const wrong = nixPath(narOfFile("something else\n"));
      const e = await errorOf(await put("nc", wrong.url, p.file));
      expect(e.status).toBe(400);
      expect(e.message).toContain("FileHash mismatch");
      expect((await head("nc", wrong.url)).status).toBe(404);
      expect((await head("nc", p.url)).status).toBe(404);
    });

    it("rejects a narinfo whose NarHash, NarSize or FileSize differ from the upload", async () => {
      const p = nixPath(narOfFile("hash check\n"));
      expect((await put("nc", p.url, p.file)).status).toBe(200);
      const cases: Array<[Partial<NixPath["narinfo"]>, string]> = [
        [{ narHash: `sha256:${nix32Sha256(Buffer.from("x"))}` }, "NarHash mismatch"],
        [{ narSize: p.nar.length + 1 }, "NarSize mismatch"],
        [{ fileSize: p.file.length - 1 }, "FileSize mismatch"],
      ];
      for (const [change, message] of cases) {
        const e = await errorOf(
          await put("nc", `${p.hash}.narinfo`, formatNarInfo({ ...p.narinfo, ...change })),
        );
        expect(e.status).toBe(400);
        expect(e.message).toContain(message);
      }
      expect(await missing("nc", [p.hash])).toEqual([p.hash]);
      // The upload is still pending, so a correct narinfo still succeeds.
      expect(await (await put("nc", `${p.hash}.narinfo`, p.text)).json()).toEqual({ outcome: "uploaded" });
    });

    it("rejects malformed narinfos with 400", async () => {
      const p = nixPath(narOfFile("syntax\n"));
      expect((await put("nc", p.url, p.file)).status).toBe(200);
      const bad: Array<[string, string, string]> = [
        [p.hash, "StorePath: /nix/store/oops\n", "Invalid narinfo"],
        [p.hash, p.text.replace(/^NarSize: .*$/m, "NarSize: many"), "Invalid narinfo"],
        [randomStorePathHash(), p.text, "does not match the URL's hash"],
        [p.hash, p.text.replaceAll("/nix/store/", "/other/store/"), "not in the cache's store dir"],
      ];
      for (const [hash, text, message] of bad) {
        const e = await errorOf(await put("nc", `${hash}.narinfo`, text));
        expect(e.status, message).toBe(400);
        expect(e.message).toContain(message);
      }
      expect((await put("nc", `${p.hash}.narinfo`, Buffer.from([0xff, 0xfe]))).status).toBe(400);
      expect((await put("nc", `${p.hash}.narinfo`, "x".repeat(1024 * 1024 + 1))).status).toBe(413);
    });

    it("rejects corrupt or unsupported compressed data with 400 and keeps nothing", async () => {
      const nar = makeNar({ type: "regular", contents: lcgBytes(50_000, 3) });
      const xz = compress(nar, "xz");
      const corruptXz = Buffer.from(xz);
      const middle = Math.floor(xz.length / 2);
      corruptXz[middle] = (corruptXz[middle] as number) ^ 0xff;
      const zst = compress(nar, "zstd");
      const truncatedZstd = zst.subarray(0, zst.length - 10);
      const notANar = Buffer.from("this is not a NAR at all, just text");
      const narsBefore = await count("nar");
      const cases: Array<[string, Buffer, string]> = [
        [".xz", corruptXz, "not valid xz"],
        [".zst", truncatedZstd, "not valid zstd"],
        [".zst", notANar, "not valid zstd"],
        ["", notANar, "Invalid NAR"],
        [".xz", nar, "not valid xz"],
      ];
      for (const [ext, body, message] of cases) {
        const e = await errorOf(await put("nc", `nar/${nix32Sha256(body)}.nar${ext}`, body));
        expect(e.status, message).toBe(400);
        expect(e.message).toContain(message);
      }
      const lz4 = await errorOf(await put("nc", `nar/${nix32Sha256(nar)}.nar.lz4`, nar));
      expect(lz4.status).toBe(400);
      expect(lz4.message).toContain('compressed with "lz4" are not supported');
      const unknown = await errorOf(await put("nc", `nar/${nix32Sha256(nar)}.nar.rar`, nar));
      expect(unknown.status).toBe(400);
      expect(await count("nar")).toBe(narsBefore);
      // Chunks stored before the failure was detected are left for GC: unreferenced and unheld.
      const referenced = await t.db.withSession((s) =>
        s.query<{ n: number }>(
          "SELECT CAST(count(*) AS integer) AS n FROM chunk c WHERE NOT EXISTS (SELECT 1 FROM chunkref r WHERE r.chunk_id = c.id) AND c.holders_count > 0",
        ),
      );
      expect(Number(referenced[0]?.n)).toBe(0);
    });

    it("refuses callers without push permission, storing nothing", async () => {
      const p = nixPath(narOfFile("unauthorized\n"));
      const narsBefore = await count("nar");
      const filesBefore = await storedFiles();
      for (const [token, status] of [
        [null, 401],
        [reader, 403],
      ] as const) {
        expect((await put("nc", "nix-cache-info", "StoreDir: /nix/store\n", token)).status).toBe(status);
        expect((await head("nc", p.url, token)).status).toBe(status);
        const r = await push("nc", p, token);
        expect(r.nar.status).toBe(status);
        expect(r.narinfo.status).toBe(status);
      }
      expect(await count("nar")).toBe(narsBefore);
      expect(await storedFiles()).toBe(filesBefore);
      expect(await missing("nc", [p.hash])).toEqual([p.hash]);
    });

    it("ignores NAR listings and refuses logs and realisations with 400", async () => {
      const hash = randomStorePathHash();
      expect((await put("nc", `${hash}.ls`, '{"version":1,"root":{"type":"regular"}}')).status).toBe(204);
      expect((await put("nc", `${hash}.ls`, "{}", null)).status).toBe(401);
      for (const [path, message] of [
        [`log/${hash}-foo.drv`, "build logs"],
        [`realisations/sha256:${"0".repeat(52)}!out.doi`, "realisations"],
        [`debuginfo/${"a".repeat(40)}`, "debug info"],
        [`${hash}.weird`, "does not store"],
      ]) {
        const e = await errorOf(await put("nc", path as string, "x"));
        expect(e.status, path).toBe(400);
        expect(e.message).toContain(message);
      }
    });

    it("lets GC reap uploads whose narinfo never came, after the grace period", async () => {
      const p = nixPath(makeNar({ type: "regular", contents: lcgBytes(40_000, 11) }));
      expect((await put("nc", p.url, p.file)).status).toBe(200);
      const gc = (now: Date) =>
        runGarbageCollection(t.db, t.storage, silentLogger(), {
          defaultRetentionSeconds: 0,
          pendingGraceSeconds: 3600,
          now,
        });
      await gc(new Date());
      expect((await head("nc", p.url)).status).toBe(200);

      await t.db.withSession((s) =>
        s.query(
          "UPDATE nar SET created_at = $2 WHERE id IN (SELECT nar_id FROM garret_pending_upload WHERE file_hash = $1)",
          [sha256Hex(p.file), new Date(Date.now() - 2 * 3600_000)],
        ),
      );
      const summary = await gc(new Date());
      expect(summary.nars).toBeGreaterThanOrEqual(1);
      expect((await head("nc", p.url)).status).toBe(404);
      const left = await t.db.withSession((s) =>
        s.query<{ n: number }>(
          "SELECT CAST(count(*) AS integer) AS n FROM garret_pending_upload WHERE file_hash = $1",
          [sha256Hex(p.file)],
        ),
      );
      expect(Number(left[0]?.n)).toBe(0);
      const e = await errorOf(await put("nc", `${p.hash}.narinfo`, p.text));
      expect(e.status).toBe(400);
    });
  });

  describe("a NAR kept whole that arrives in zstd", () => {
    async function served(app: TestApp, cache: string, hash: string): Promise<Buffer> {
      const res = await app.request(`/${cache}/nar/${hash}.nar`, { token: app.rootToken });
      expect(res.status).toBe(200);
      return Buffer.from(await res.arrayBuffer());
    }

    it("is stored and served as the client's file, not compressed again", async () => {
      const p = nixPath(narOfFile("kept as the client compressed it\n".repeat(8)), { compression: "zstd" });
      expect(p.nar.length).toBeLessThan(CHUNKING.narSizeThreshold);
      const r = await push("nc", p);
      expect(r.nar.status, await r.nar.clone().text()).toBe(200);
      expect(((await r.nar.json()) as { file_size: number }).file_size).toBe(p.file.length);
      expect(r.narinfo.status, await r.narinfo.clone().text()).toBe(200);
      const body = await served(t, "nc", p.hash);
      expect(body.equals(p.file)).toBe(true);
      expect(zstdDecompressSync(body)).toEqual(p.nar);
      const rows = await t.db.withSession((s) =>
        s.query<{ file_hash: string; file_size: number | string }>(
          `SELECT c.file_hash, c.file_size FROM object o JOIN chunkref r ON r.nar_id = o.nar_id
           JOIN chunk c ON c.id = r.chunk_id WHERE o.store_path_hash = '${p.hash}'`,
        ),
      );
      expect(rows.map((c) => [c.file_hash, Number(c.file_size)])).toEqual([
        [sha256Hex(p.file), p.file.length],
      ]);
    });

    it("is compressed again when the file has bytes after its zstd frames", async () => {
      const nar = narOfFile("followed by junk\n");
      const file = Buffer.concat([run("zstd", ["-c", "-q"], nar), Buffer.from("not zstd")]);
      const hash = randomStorePathHash();
      const fileHash = nix32Sha256(file);
      const text = formatNarInfo({
        ...nixPath(nar, { compression: "zstd" }).narinfo,
        storePath: `/nix/store/${hash}-junk`,
        url: `nar/${fileHash}.nar.zst`,
        fileHash: `sha256:${fileHash}`,
        fileSize: file.length,
      });
      expect((await put("nc", `nar/${fileHash}.nar.zst`, file)).status).toBe(200);
      expect((await put("nc", `${hash}.narinfo`, text)).status).toBe(200);
      const body = await served(t, "nc", hash);
      expect(body.includes(Buffer.from("not zstd"))).toBe(false);
      expect(zstdDecompressSync(body)).toEqual(nar);
    });

    it("is compressed again when the server stores another compression", async () => {
      const app = await createTestApp({
        dbKind: kind,
        settings: { chunking: CHUNKING, compression: { type: "brotli" } },
      });
      try {
        await app.createCache("br");
        const p = nixPath(narOfFile("zstd into a brotli cache\n"), { compression: "zstd" });
        const send = (path: string, body: Uint8Array | string) =>
          app.request(`/br/${path}`, { method: "PUT", token: app.rootToken, body });
        expect((await send(p.url, p.file)).status).toBe(200);
        expect((await send(`${p.hash}.narinfo`, p.text)).status).toBe(200);
        expect(brotliDecompressSync(await served(app, "br", p.hash))).toEqual(p.nar);
      } finally {
        await app.close();
      }
    });
  });

  describe("NARs kept whole under the same chunking policy as the attic API", () => {
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
      const app = await createTestApp({ dbKind: kind, settings: { chunking: CHUNKING, ...settings } });
      try {
        await app.createCache("whole");
        const p = nixPath(makeNar({ type: "regular", contents: lcgBytes(size, 5) }), { compression: "none" });
        const send = (path: string, body: Uint8Array | string) =>
          app.request(`/whole/${path}`, { method: "PUT", token: app.rootToken, body });
        const nar = await send(p.url, p.file);
        expect(nar.status, await nar.clone().text()).toBe(200);
        expect(((await nar.json()) as { chunks: number }).chunks).toBe(1);
        expect((await send(`${p.hash}.narinfo`, p.text)).status).toBe(200);
        const chunks = await app.db.withSession((s) =>
          s.query<{ n: number }>("SELECT CAST(count(*) AS integer) AS n FROM chunk WHERE state = 'V'"),
        );
        expect(chunks[0]?.n).toBe(1);
        const text = await (await app.request(`/whole/${p.hash}.narinfo`, { token: app.rootToken })).text();
        const served = await app.request(`/whole/nar/${p.hash}.nar`, { token: app.rootToken });
        const body = Buffer.from(await served.arrayBuffer());
        const decoded = text.includes("Compression: br")
          ? brotliDecompressSync(body)
          : zstdDecompressSync(body);
        expect(sha256Hex(decoded)).toBe(sha256Hex(p.nar));
      } finally {
        await app.close();
      }
    });
  });
});
