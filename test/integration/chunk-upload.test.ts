/**
 * Issue 19's proofs against the real garretd process, on Postgres (SQLite without the Postgres
 * tier) with local storage and with S3 (s3rver): the chunk-upload extension, driven by the same
 * client code `garret push` runs (apps/garret/src/chunk-push.ts), through a proxy in the test that
 * counts the bytes on the wire and refuses bodies over 8 MiB.
 *
 * - a rebuilt path (5% of its bytes changed, in regions spread through it) whose previous version is
 *   in the cache crosses the wire at ≤ 10% of its NAR size;
 * - a 256 MiB path pushes through the 8 MiB proxy, while the attic-API upload of it is refused;
 * - a push interrupted at 50% and started again sends ≤ the unacknowledged chunks plus one request;
 * - tenant A cannot make a chunk or NAR that only tenant B's private cache stores appear in A's
 *   cache, nor learn that it exists: every answer A gets is the one it gets for unknown chunks;
 * - an abandoned session's chunks are reaped by GC after the pending grace.
 *
 * Sizes: GARRET_TEST_CHUNK_PUSH_MIB sets the rebuilt path's size (default 64 MiB, which keeps the
 * file near ten minutes on the shared 2-core machine with s3rver); the issue's 1 GiB case is
 * measured by bench/chunk-push.ts (figures in the README).
 */
import { createHash, randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient, type NarStream } from "../../apps/garret/src/api-client.ts";
import { pushNarChunked } from "../../apps/garret/src/chunk-push.ts";
import { type BodyLimitProxy, startBodyLimitProxy } from "../support/body-limit-proxy.ts";
import { createCacheOver } from "../support/cache-api.ts";
import { type GarretdHandle, type StorageKind, startGarretd } from "../support/garretd.ts";
import { makeNar, randomStorePathHash, sha256Hex } from "../support/nar.ts";
import { postgresTestUrl } from "../support/postgres.ts";
import { narInfoForNar } from "../support/upload-info.ts";
import { zstdDecompressSync } from "../support/zstd.ts";

const MiB = 1024 * 1024;
const PROXY_LIMIT = 8 * MiB;
const db = postgresTestUrl() ? "postgres" : "sqlite";

function narInfo(cache: string, nar: Buffer, name = "chunk-push") {
  return narInfoForNar(cache, nar, { name });
}

/** The NAR in 1 MiB pieces, as `nix-store --dump` would stream it. */
function narSource(nar: Buffer, onPiece?: (offset: number) => void): () => NarStream {
  return () => {
    let cancelled = false;
    return {
      body: (async function* () {
        for (let at = 0; at < nar.length && !cancelled; at += MiB) {
          onPiece?.(at);
          yield nar.subarray(at, Math.min(at + MiB, nar.length));
        }
      })(),
      cancel() {
        cancelled = true;
      },
    };
  };
}

/** A NAR of `size` incompressible bytes, and a copy with 5% of its content rewritten in one region per 8 MiB. */
function versions(size: number): { v1: Buffer; v2: Buffer; changed: number } {
  const v1 = makeNar({ type: "regular", contents: randomBytes(size) });
  const v2 = Buffer.from(v1);
  const stride = 8 * MiB;
  const region = Math.round(stride * 0.05);
  let changed = 0;
  // Inside the file's contents: the NAR's header and trailer are a few hundred bytes.
  for (let at = 512; at + stride <= v2.length - 512; at += stride) {
    randomBytes(region).copy(v2, at + Math.floor(Math.random() * (stride - region)));
    changed += region;
  }
  return { v1, v2, changed };
}

function client(endpoint: string, token: string): ApiClient {
  return new ApiClient({
    endpoint,
    token,
    userAgent: "garret/test",
    // garret push retries network errors too: a proxy that refused a body closes that connection,
    // and a request racing the close sees a reset.
    retry: { attempts: 3, baseMs: 10, maxMs: 50 },
  });
}

async function download(
  g: GarretdHandle,
  cache: string,
  storePathHash: string,
  token: string,
): Promise<Buffer> {
  const auth = { authorization: `Bearer ${token}` };
  const info = await fetch(`${g.url}/${cache}/${storePathHash}.narinfo`, { headers: auth });
  expect(info.status).toBe(200);
  const url = /^URL: (.*)$/m.exec(await info.text())?.[1];
  const res = await fetch(`${g.url}/${cache}/${url}`, { headers: auth });
  expect(res.status).toBe(200);
  return zstdDecompressSync(Buffer.from(await res.arrayBuffer()));
}

const wire = (p: BodyLimitProxy) => p.requests.reduce((s, r) => s + r.requestBytes + r.responseBytes, 0);
const chunkPuts = (p: BodyLimitProxy) =>
  p.requests.filter((r) => r.method === "PUT" && r.path.includes("/chunks"));

const storages: StorageKind[] = ["local", "s3"];

describe.each(storages)(`chunk upload (${db} + %s)`, (storage) => {
  let g: GarretdHandle;
  let proxy: BodyLimitProxy;
  const bigMiB = Number(process.env.GARRET_TEST_CHUNK_PUSH_MIB ?? 64);

  beforeAll(async () => {
    g = await startGarretd({
      db,
      storage,
      extraToml: `\n[garret]\nchunk-upload-max-request-bytes = ${PROXY_LIMIT}\n`,
    });
    proxy = await startBodyLimitProxy(g.url, PROXY_LIMIT);
    await createCacheOver(g.url, g.rootToken, "team-a");
    await createCacheOver(g.url, g.rootToken, "team-b");
  }, 120_000);
  afterAll(async () => {
    for (const line of (g?.logs() ?? "")
      .split("\n")
      .filter((l) => l.includes('"level":"error"'))
      .slice(0, 5)) {
      console.log(`[chunk-upload ${storage}] server error: ${line}`);
    }
    await proxy?.close();
    await g?.stop();
  });

  it("advertises its chunking parameters and request limit", async () => {
    const offer = await client(g.url, g.rootToken).getChunkUploadOffer();
    expect(offer).toEqual({
      version: 1,
      max_request_bytes: PROXY_LIMIT,
      chunking: { nar_size_threshold: 1, min_size: 16_384, avg_size: 65_536, max_size: 262_144 },
    });
  });

  it(`a rebuilt ${bigMiB} MiB path (5% changed) crosses the wire at <= 10% of its size`, async () => {
    const { v1, v2, changed } = versions(bigMiB * MiB);
    const direct = client(g.url, g.rootToken);
    const offer = await direct.getChunkUploadOffer();
    if (!offer) throw new Error("no offer");
    const first = narInfo("team-a", v1, "big-1");
    let started = performance.now();
    await pushNarChunked(direct, offer, first, narSource(v1));
    const firstMs = performance.now() - started;

    proxy.reset();
    const second = narInfo("team-a", v2, "big-2");
    started = performance.now();
    const pushed = await pushNarChunked(client(proxy.url, g.rootToken), offer, second, narSource(v2));
    const secondMs = performance.now() - started;
    const onWire = wire(proxy);
    console.log(
      `[chunk-upload ${storage}] ${bigMiB} MiB NAR, ${(changed / MiB).toFixed(1)} MiB changed: ` +
        `first push ${Math.round(firstMs)} ms; rebuilt push ${Math.round(secondMs)} ms, ` +
        `${onWire} bytes on the wire (${((onWire / v2.length) * 100).toFixed(2)}%), ` +
        `sent ${pushed.sent}, skipped ${pushed.skipped}`,
    );
    const byKind = new Map<string, { n: number; ms: number }>();
    for (const r of proxy.requests) {
      const kind = `${r.method} ${r.path.replace(/\?.*/, "").split("/").pop()}`;
      const k = byKind.get(kind) ?? { n: 0, ms: 0 };
      k.n++;
      k.ms += r.ms;
      byKind.set(kind, k);
    }
    console.log(`[chunk-upload ${storage}] requests: ${JSON.stringify(Object.fromEntries(byKind))}`);
    for (const line of g
      .logs()
      .split("\n")
      .filter((l) => l.includes("commit verified"))) {
      console.log(`[chunk-upload ${storage}] server: ${line}`);
    }
    expect(pushed.sent + pushed.skipped).toBe(v2.length);
    expect(onWire).toBeLessThanOrEqual(v2.length * 0.1);
    expect(proxy.requests.every((r) => r.status === 200)).toBe(true);

    const back = await download(g, "team-a", second.store_path_hash, g.rootToken);
    expect(back.length).toBe(v2.length);
    expect(createHash("sha256").update(back).digest("hex")).toBe(second.nar_hash.slice(7));
  }, 900_000);

  it("a 256 MiB path pushes through a proxy refusing bodies over 8 MiB; its attic-API upload does not", async () => {
    const nar = makeNar({ type: "regular", contents: randomBytes(256 * MiB) });
    const viaProxy = client(proxy.url, g.rootToken);
    const offer = await viaProxy.getChunkUploadOffer();
    if (!offer) throw new Error("no offer");

    const attic = narInfo("team-a", nar, "attic-api");
    // Refused mid-body: the client sees the 413 or, racing it, the connection the proxy closed.
    proxy.reset();
    await expect(viaProxy.uploadPath(attic, narSource(nar))).rejects.toThrow(/413|ECONNRESET|EPIPE|closed/);
    expect(proxy.requests.some((r) => r.status === 413)).toBe(true);
    const absent = await fetch(`${g.url}/team-a/${attic.store_path_hash}.narinfo`, {
      headers: { authorization: `Bearer ${g.rootToken}` },
    });
    expect(absent.status).toBe(404);

    proxy.reset();
    const info = narInfo("team-a", nar, "chunked");
    const pushed = await pushNarChunked(viaProxy, offer, info, narSource(nar));
    expect(pushed.sent).toBe(nar.length);
    expect(proxy.requests.every((r) => r.status === 200 && r.requestBytes <= PROXY_LIMIT)).toBe(true);
    expect(chunkPuts(proxy).length).toBeGreaterThanOrEqual(32);
    const back = await download(g, "team-a", info.store_path_hash, g.rootToken);
    expect(back.equals(nar)).toBe(true);
  }, 600_000);

  it("a push interrupted at 50% sends at most the unacknowledged chunks plus one request when run again", async () => {
    const nar = makeNar({ type: "regular", contents: randomBytes(64 * MiB) });
    const info = narInfo("team-b", nar, "interrupted");
    const viaProxy = client(proxy.url, g.rootToken);
    const offer = await viaProxy.getChunkUploadOffer();
    if (!offer) throw new Error("no offer");

    proxy.reset();
    const abort = new Error("client killed");
    const interrupted = pushNarChunked(
      viaProxy,
      offer,
      info,
      narSource(nar, () => {
        // The client dies once half the NAR has gone out (its stream stops mid-transfer).
        if (proxy.liveRequestBytes >= nar.length / 2) throw abort;
      }),
    );
    await expect(interrupted).rejects.toBe(abort);
    const acknowledged = chunkPuts(proxy)
      .filter((r) => r.status === 200)
      .reduce((s, r) => s + r.requestBytes, 0);
    expect(acknowledged).toBeGreaterThanOrEqual(nar.length / 2 - 2 * PROXY_LIMIT);

    proxy.reset();
    const rerun = await pushNarChunked(viaProxy, offer, info, narSource(nar));
    const sentAgain = chunkPuts(proxy).reduce((s, r) => s + r.requestBytes, 0);
    console.log(
      `[chunk-upload ${storage}] interrupted push: ${acknowledged} bytes acknowledged before the kill, ` +
        `${sentAgain} bytes sent by the rerun (NAR ${nar.length})`,
    );
    expect(sentAgain).toBeLessThanOrEqual(nar.length - acknowledged + PROXY_LIMIT);
    expect(rerun.skipped).toBeGreaterThan(0);
    const back = await download(g, "team-b", info.store_path_hash, g.rootToken);
    expect(back.equals(nar)).toBe(true);
  }, 600_000);

  it.runIf(db === "postgres")(
    "an abandoned session's chunks are reaped by GC after the pending grace, its rows with them",
    async () => {
      const nar = makeNar({ type: "regular", contents: randomBytes(1 * MiB) });
      const narHash = sha256Hex(nar).slice(7);
      const c = client(g.url, await g.mintToken("quitter", { "team-a": ["w"] }));
      const offer = await c.getChunkUploadOffer();
      if (!offer) throw new Error("no offer");
      const { FastCdcChunker } = await import("@garret/chunking");
      const chunker = new FastCdcChunker({ minSize: 16_384, avgSize: 65_536, maxSize: 262_144 });
      const chunks = [...chunker.push(nar), ...chunker.finish()].filter((x) => x.length > 0);
      await c.uploadChunks("team-a", narHash, chunks);
      const hashes = chunks.map((x) => `sha256:${createHash("sha256").update(x).digest("hex")}`);

      const sql = new pg.Client({ connectionString: g.databaseUrl });
      await sql.connect();
      try {
        const count = async () =>
          Number(
            (
              await sql.query("SELECT count(*) AS n FROM chunk WHERE chunk_hash = ANY($1) AND state = 'V'", [
                hashes,
              ])
            ).rows[0].n,
          );
        expect(await count()).toBe(chunks.length);
        // A GC run inside the grace leaves the session's leased chunks alone.
        expect((await g.runMode("garbage-collector-once")).code).toBe(0);
        expect(await count()).toBe(chunks.length);
        // Seven hours later (beyond the default grace of six) nobody came back.
        await sql.query(
          "UPDATE garret_chunk_session SET touched_at = now() - interval '7 hours' WHERE created_by = 'quitter'",
        );
        await sql.query(
          "UPDATE chunk SET leased_at = now() - interval '7 hours' WHERE chunk_hash = ANY($1)",
          [hashes],
        );
        const gc = await g.runMode("garbage-collector-once");
        expect(gc.code, gc.stderr).toBe(0);
        expect(await count()).toBe(0);
        const sessions = await sql.query(
          "SELECT count(*) AS n FROM garret_chunk_session WHERE created_by = 'quitter'",
        );
        expect(Number(sessions.rows[0].n)).toBe(0);
      } finally {
        await sql.end();
      }
    },
    120_000,
  );

  describe("tenant isolation", () => {
    let a: ApiClient;
    let a2: ApiClient;
    let secret: Buffer;
    let secretHashes: string[];
    let secretInfo: ReturnType<typeof narInfo>;

    beforeAll(async () => {
      await createCacheOver(g.url, g.rootToken, "tenant-a");
      await createCacheOver(g.url, g.rootToken, "tenant-b");
      a = client(g.url, await g.mintToken("alice", { "tenant-a": ["r", "w"] }));
      a2 = client(g.url, await g.mintToken("mallory", { "tenant-a": ["r", "w"] }));
      const b = client(g.url, await g.mintToken("bob", { "tenant-b": ["r", "w"] }));
      secret = makeNar({ type: "regular", contents: randomBytes(2 * MiB) });
      secretInfo = narInfo("tenant-b", secret, "secret");
      const offer = await b.getChunkUploadOffer();
      if (!offer) throw new Error("no offer");
      await pushNarChunked(b, offer, secretInfo, narSource(secret));
      const { FastCdcChunker } = await import("@garret/chunking");
      const chunker = new FastCdcChunker({ minSize: 16_384, avgSize: 65_536, maxSize: 262_144 });
      const chunks = [...chunker.push(secret), ...chunker.finish()].filter((c) => c.length > 0);
      secretHashes = chunks.map((c) => createHash("sha256").update(c).digest("hex"));
      expect(secretHashes.length).toBeGreaterThan(8);
    });

    const unknownHashes = (n: number) =>
      Array.from({ length: n }, () => createHash("sha256").update(randomBytes(32)).digest("hex"));

    it("asking which of B's chunks are missing answers exactly as for chunks nobody stores", async () => {
      const narHash = secretInfo.nar_hash.slice(7);
      expect(await a.missingChunks("tenant-a", narHash, secretHashes)).toEqual(secretHashes);
      const unknown = unknownHashes(secretHashes.length);
      expect(await a.missingChunks("tenant-a", narHash, unknown)).toEqual(unknown);
    });

    it("a commit listing B's chunks is refused with every one of them missing, as for unknown chunks", async () => {
      const info = { ...secretInfo, cache: "tenant-a" };
      expect(await a.commitChunkedNar(info, secretHashes)).toEqual({ missing: secretHashes });
      const unknown = unknownHashes(4);
      expect(await a.commitChunkedNar(info, unknown)).toEqual({ missing: unknown });
      const miss = await fetch(`${g.url}/tenant-a/${info.store_path_hash}.narinfo`, {
        headers: { authorization: `Bearer ${g.rootToken}` },
      });
      expect(miss.status).toBe(404);
    });

    it("uploading a chunk B stores is acknowledged exactly like a new one, and proves possession only of it", async () => {
      const narHash = secretInfo.nar_hash.slice(7);
      const { FastCdcChunker } = await import("@garret/chunking");
      const chunker = new FastCdcChunker({ minSize: 16_384, avgSize: 65_536, maxSize: 262_144 });
      const chunks = [...chunker.push(secret), ...chunker.finish()].filter((c) => c.length > 0);
      const first = chunks[0] as Uint8Array;
      const fresh = randomBytes(first.length);
      const put = async (data: Uint8Array) => {
        const body = Buffer.alloc(4 + data.length);
        body.writeUInt32BE(data.length, 0);
        body.set(data, 4);
        const res = await fetch(`${g.url}/_api/v1/garret/chunk-upload/tenant-a/chunks?nar_hash=${narHash}`, {
          method: "PUT",
          headers: {
            authorization: `Bearer ${(a as unknown as { options: { token: string } }).options.token}`,
          },
          body,
        });
        return { status: res.status, body: (await res.json()) as { received: string[] } };
      };
      const known = await put(first);
      const unknown = await put(fresh);
      expect(known.status).toBe(200);
      expect(unknown.status).toBe(200);
      expect(Object.keys(known.body)).toEqual(Object.keys(unknown.body));
      expect(known.body.received).toEqual([secretHashes[0]]);

      // Only the uploaded chunk became usable; the rest of B's NAR stays missing for A.
      const info = { ...secretInfo, cache: "tenant-a" };
      expect(await a.commitChunkedNar(info, secretHashes)).toEqual({ missing: secretHashes.slice(1) });
      // Another subject writing to the same cache cannot use alice's session.
      expect(await a2.missingChunks("tenant-a", narHash, secretHashes)).toEqual(secretHashes);
      expect(await a2.commitChunkedNar(info, secretHashes)).toEqual({ missing: secretHashes });
    });

    it("a commit whose chunks do not assemble the claimed NAR is refused and nothing appears", async () => {
      const decoy = makeNar({ type: "regular", contents: randomBytes(300_000) });
      const offer = await a.getChunkUploadOffer();
      if (!offer) throw new Error("no offer");
      // A pushes its own decoy, then claims B's NAR hash and size for the decoy's chunks.
      const decoyInfo = narInfo("tenant-a", decoy, "decoy");
      await pushNarChunked(a, offer, decoyInfo, narSource(decoy));
      const { FastCdcChunker } = await import("@garret/chunking");
      const chunker = new FastCdcChunker({ minSize: 16_384, avgSize: 65_536, maxSize: 262_144 });
      const decoyHashes = [...chunker.push(decoy), ...chunker.finish()]
        .filter((c) => c.length > 0)
        .map((c) => createHash("sha256").update(c).digest("hex"));
      const lie = { ...secretInfo, cache: "tenant-a", store_path_hash: randomStorePathHash() };
      lie.store_path = `/nix/store/${lie.store_path_hash}-lie`;
      await expect(a.commitChunkedNar(lie, decoyHashes)).rejects.toThrow(/Bad NAR Hash or Size/);
      const res = await fetch(`${g.url}/tenant-a/${lie.store_path_hash}.narinfo`, {
        headers: { authorization: `Bearer ${g.rootToken}` },
      });
      expect(res.status).toBe(404);
    });

    it("every call needs w on the cache", async () => {
      const reader = client(g.url, await g.mintToken("reader", { "tenant-b": ["r"] }));
      const narHash = secretInfo.nar_hash.slice(7);
      await expect(reader.missingChunks("tenant-b", narHash, secretHashes)).rejects.toThrow(/AccessError/);
      await expect(reader.commitChunkedNar(secretInfo, secretHashes)).rejects.toThrow(/AccessError/);
      await expect(a.missingChunks("tenant-b", narHash, secretHashes)).rejects.toThrow(/Unauthorized/);
    });
  });
});
