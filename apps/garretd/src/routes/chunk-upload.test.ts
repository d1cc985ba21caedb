/**
 * The chunk-upload routes in one process (every database kind, local storage): when the extension is offered,
 * the round trip missing → chunks → commit, and every client mistake as a clear 4xx that leaves
 * nothing usable behind. The cross-tenant and real-process proofs are in
 * test/integration/chunk-upload.test.ts.
 */
import { createHash, randomBytes } from "node:crypto";
import { FastCdcChunker } from "@garret/chunking";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, SMALL_CHUNKING, type TestApp } from "../../../../test/support/app.ts";
import { makeNar, randomStorePathHash, sha256Hex } from "../../../../test/support/nar.ts";
import { openTestDb, testDbKinds } from "../../../../test/support/postgres.ts";
import { chunkUploadOffer } from "../services/chunk-upload.ts";
import { testSettings } from "../settings.ts";

const BASE = "/_api/v1/garret/chunk-upload";
const CHUNKING = SMALL_CHUNKING;

const hex = (d: Uint8Array) => createHash("sha256").update(d).digest("hex");
const frames = (chunks: Uint8Array[]) => {
  const parts: Buffer[] = [];
  for (const c of chunks) {
    const head = Buffer.alloc(4);
    head.writeUInt32BE(c.length);
    parts.push(head, Buffer.from(c));
  }
  return Buffer.concat(parts);
};
const cut = (nar: Buffer) => {
  const chunker = new FastCdcChunker(CHUNKING);
  return [...chunker.push(nar), ...chunker.finish()].filter((c) => c.length > 0);
};
let t: TestApp;
let closeDb: () => Promise<void>;
const json = (body: unknown) => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});
function infoFor(nar: Buffer) {
  const hash = randomStorePathHash();
  return {
    cache: "cu",
    store_path_hash: hash,
    store_path: `/nix/store/${hash}-cu`,
    references: [],
    system: null,
    deriver: null,
    sigs: [],
    ca: null,
    nar_hash: sha256Hex(nar),
    nar_size: nar.length,
  };
}

describe("offer", () => {
  it("is off for whole-NAR storage, brotli, and a request limit below one largest chunk", () => {
    expect(chunkUploadOffer(testSettings())).not.toBeNull();
    const off = [
      testSettings({ chunking: { ...CHUNKING, narSizeThreshold: 0 } }),
      testSettings({ compression: { type: "brotli" } }),
      testSettings({
        chunking: { ...CHUNKING, maxSize: 1024 * 1024 },
        chunkUploadMaxRequestBytes: 1024 * 1024,
      }),
    ];
    for (const s of off) expect(chunkUploadOffer(s)).toBeNull();
  });
});

describe.each(testDbKinds())("on %s", (kind) => {
  beforeAll(async () => {
    const { db, dispose } = await openTestDb(kind);
    t = await createTestApp({
      db,
      settings: { chunking: CHUNKING, chunkUploadMaxRequestBytes: 1024 * 1024 },
    });
    closeDb = dispose;
    await t.createCache("cu");
  });
  afterAll(async () => {
    await t.close();
    await closeDb();
  });

  describe("round trip", () => {
    it("the offer is served without a token", async () => {
      const res = await t.request(BASE);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ version: 1, max_request_bytes: 1024 * 1024 });
    });

    it("uploads only what is missing, then commits; a second commit of the same NAR needs nothing", async () => {
      const nar = makeNar({ type: "regular", contents: randomBytes(100_000) });
      const chunks = cut(nar);
      const hashes = chunks.map(hex);
      const narHash = hex(nar);
      const missing = await t.request(`${BASE}/cu/missing`, {
        ...json({ nar_hash: narHash, chunks: hashes }),
        token: t.rootToken,
      });
      expect(((await missing.json()) as { missing: string[] }).missing).toEqual([...new Set(hashes)]);
      const put = await t.request(`${BASE}/cu/chunks?nar_hash=${narHash}`, {
        method: "PUT",
        body: frames(chunks),
        token: t.rootToken,
      });
      expect(put.status).toBe(200);
      expect(await put.json()).toEqual({ received: hashes });
      const commit = await t.request(`${BASE}/cu/commit`, {
        ...json({ nar_info: infoFor(nar), chunks: hashes }),
        token: t.rootToken,
      });
      expect(commit.status, await commit.clone().text()).toBe(200);
      expect(await commit.json()).toMatchObject({ kind: "Uploaded" });

      const again = await t.request(`${BASE}/cu/missing`, {
        ...json({ nar_hash: narHash, chunks: hashes }),
        token: t.rootToken,
      });
      expect(await again.json()).toEqual({ missing: [] });
    });
  });

  describe("client mistakes", () => {
    const narHash = "ab".repeat(32);
    const put = (body: Buffer, headers: Record<string, string> = {}, query = `nar_hash=${narHash}`) =>
      t.request(`${BASE}/cu/chunks?${query}`, { method: "PUT", body, headers, token: t.rootToken });

    it("a body over the request limit is 413 before anything is stored", async () => {
      // Valid frames, 65 largest chunks: the limit is crossed while the body streams.
      const body = frames(Array.from({ length: 65 }, () => randomBytes(CHUNKING.maxSize)));
      const res = await put(body);
      expect(res.status).toBe(413);
      expect(((await res.json()) as { error: string }).error).toBe("PayloadTooLarge");
      const ack = await put(frames([randomBytes(CHUNKING.maxSize)]));
      expect(ack.status).toBe(200);
      const held = await t.db.query<{ n: number }>(
        `SELECT count(*) AS n FROM garret_chunk_session_chunk k
       JOIN garret_chunk_session s ON s.id = k.session_id WHERE s.nar_hash = $1`,
        [narHash],
      );
      // The session holds only the acknowledged chunk, none of the refused request's.
      expect(Number(held[0]?.n)).toBe(1);
    });

    it("a chunk larger than max_size, an empty chunk or a truncated frame is 400", async () => {
      const big = Buffer.alloc(4);
      big.writeUInt32BE(CHUNKING.maxSize + 1);
      for (const body of [
        big,
        Buffer.alloc(4),
        Buffer.concat([frames([randomBytes(2000)]).subarray(0, 1000)]),
      ]) {
        const res = await put(body);
        expect(res.status).toBe(400);
        expect(((await res.json()) as { error: string }).error).toBe("RequestError");
      }
    });

    it("a malformed nar_hash is 400; so is a commit whose nar_info names another cache", async () => {
      expect((await put(Buffer.alloc(0), {}, "nar_hash=xyz")).status).toBe(400);
      const nar = makeNar({ type: "regular", contents: randomBytes(5000) });
      const res = await t.request(`${BASE}/cu/commit`, {
        ...json({ nar_info: { ...infoFor(nar), cache: "other" }, chunks: [hex(nar)] }),
        token: t.rootToken,
      });
      expect(res.status).toBe(400);
    });

    it("a commit of uploaded chunks whose sizes do not add up to nar_size is refused, nothing visible", async () => {
      const nar = makeNar({ type: "regular", contents: randomBytes(50_000) });
      const chunks = cut(nar);
      const info = infoFor(nar);
      await put(frames(chunks), {}, `nar_hash=${hex(nar)}`);
      const res = await t.request(`${BASE}/cu/commit`, {
        ...json({ nar_info: { ...info, nar_size: nar.length + 1 }, chunks: chunks.map(hex) }),
        token: t.rootToken,
      });
      expect(res.status).toBe(400);
      expect((await res.json()) as { message: string }).toMatchObject({
        message: expect.stringMatching(/Bad NAR/),
      });
      expect((await t.request(`/cu/${info.store_path_hash}.narinfo`, { token: t.rootToken })).status).toBe(
        404,
      );
    });

    it("chunks that are not a NAR are refused at commit even with a matching hash and size", async () => {
      const junk = randomBytes(40_000);
      const chunks = cut(junk);
      await put(frames(chunks), {}, `nar_hash=${hex(junk)}`);
      const hash = randomStorePathHash();
      const res = await t.request(`${BASE}/cu/commit`, {
        ...json({
          nar_info: { ...infoFor(junk), store_path_hash: hash, store_path: `/nix/store/${hash}-junk` },
          chunks: chunks.map(hex),
        }),
        token: t.rootToken,
      });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { message: string }).message).toMatch(/Invalid NAR/);
    });

    it("without w the calls are refused; without a token the cache is not even named", async () => {
      const reader = await t.mintToken("reader", { cu: ["r"] });
      const body = json({ nar_hash: narHash, chunks: [] });
      expect((await t.request(`${BASE}/cu/missing`, { ...body, token: reader })).status).toBe(403);
      expect((await t.request(`${BASE}/cu/missing`, body)).status).toBe(401);
    });
  });
});
