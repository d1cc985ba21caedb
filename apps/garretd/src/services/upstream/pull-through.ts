/**
 * Pull-through caching: what a cache lacks is looked up in its upstream binary caches, served, and
 * kept. Called by the narinfo and NAR read paths on a miss, after they authorized the caller, so an
 * upstream is never contacted for someone who cannot read the cache.
 *
 * - narinfo miss: the upstreams are asked in order within one deadline (`narinfo-timeout`); the
 *   first narinfo signed by a key trusted for its upstream is answered at once, signed by the
 *   cache's key with the upstream signatures beside it. Misses and failures are remembered for
 *   `negative-ttl`, so a fleet asking for a path no upstream has costs one lookup, not one each.
 * - NAR miss: one fetch per (cache, path) however many clients ask (single flight). The NAR is
 *   decompressed (xz, zstd, bzip2, br, gzip, none), checked against NarHash/NarSize, and stored
 *   through the upload pipeline (`storeNar`: chunked, deduplicated, recompressed). The client that
 *   started the fetch gets the NAR recompressed as it streams; the others wait for the stored copy.
 *   A NAR that fails verification is not stored; its client gets a 404 when the NAR ended before
 *   the response started (`HOLD_BYTES`), else a cut connection (Nix then rejects the download).
 * - The references of a served narinfo that the cache lacks are looked up upstream at once, since
 *   Nix asks for them next (`lookAhead`).
 * - Small NARs (up to `PREFETCH_MAX_NAR_SIZE`) are fetched as soon as their narinfo is served,
 *   when a fetch slot is free, since Nix asks for them next.
 * - Limits: `max-concurrent-fetches` and `max-bytes-in-flight` (sum of NarSize); a fetch that
 *   cannot start within `nar-timeout` is a 404.
 */
import type { Transform } from "node:stream";
import { createCompressStream, createDecompressStream, nixCompressionName } from "@garret/chunking";
import {
  type CacheUpstream,
  findAndLockNar,
  getCacheUpstreams,
  getMissingPaths,
  releaseNar,
  upsertObject,
} from "@garret/db";
import { fingerprint, formatNarInfo, parsePublicKey, verifySignature } from "@garret/nix";
import { GARRET_DEFAULTS, type UpstreamPolicy } from "../../config/garret-config.ts";
import type { Deps } from "../../deps.ts";
import { AtticError } from "../../errors.ts";
import type { Cache } from "../cache-directory.ts";
import { signFingerprint } from "../narinfo.ts";
import { checkNarInfo, objectInput, storeNar } from "../upload-path.ts";
import { createFetchLimiter, type FetchLimiter } from "./fetch-limiter.ts";
import { fetchNarInfoText, openNar, UpstreamFailure, upstreamBase } from "./upstream-client.ts";
import { NarInfoRejected, type VerifiedNarInfo, verifyUpstreamNarInfo } from "./verify-narinfo.ts";

export const DEFAULT_UPSTREAM_POLICY: UpstreamPolicy = { defaults: [], ...GARRET_DEFAULTS.upstream };

/** The first client's response starts only after this much NAR (or the whole NAR) was verified so far. */
const HOLD_BYTES = 4 * 1024 * 1024;
/** Per-cache upstream settings are re-read after this long (other replicas' changes). */
const CONFIG_TTL_MS = 5000;
/** Found upstream narinfos are kept this long for the NAR request that follows. */
const FOUND_TTL_MS = 10 * 60_000;
const MEMO_LIMIT = 10_000;
const CREATED_BY = "upstream";
/** NARs up to this size are fetched as soon as their narinfo is asked for, if a slot is free. */
const PREFETCH_MAX_NAR_SIZE = HOLD_BYTES;
/** Background upstream narinfo lookups for references at once (see lookAhead). */
const LOOKAHEAD_LIMIT = 32;

export interface UpstreamNarStream {
  body: () => AsyncGenerator<Uint8Array>;
  compression: string;
}

export interface PullThrough {
  /** The narinfo text for a path the cache lacks, or NoSuchObject. */
  narInfo(cache: Cache, storePathHash: string): Promise<string>;
  /**
   * For a NAR the cache lacks: a stream for the client that started the fetch, or null once the
   * path is stored (serve it the usual way), or NoSuchObject.
   */
  nar(cache: Cache, storePathHash: string, head: boolean): Promise<UpstreamNarStream | null>;
  /** Signatures of a stored object that verify against the cache's trusted upstream keys. */
  trustedSigs(cache: Cache, print: string, sigs: readonly string[]): Promise<string[]>;
  /** Forgets the cache's upstream settings (after a configure through this process). */
  invalidate(cacheId: number): void;
  /** The upstreams in effect for the cache and whether they are its own. */
  upstreamsOf(cache: Cache): Promise<CacheUpstream[]>;
}

/** stored: the path is in the cache; skipped: a prefetch found no free slot (a request fetches it). */
type Outcome = "stored" | "failed" | "skipped";

interface Found {
  info: VerifiedNarInfo;
  narUrl: string;
  upstream: string;
  until: number;
}

export function createPullThrough(deps: Deps, policy: UpstreamPolicy = DEFAULT_UPSTREAM_POLICY): PullThrough {
  const configs = new Map<number, { value: CacheUpstream[]; until: number }>();
  const negative = new Map<string, number>();
  const found = new Map<string, Found>();
  const lookups = new Map<string, Promise<Found | null>>();
  const fetches = new Map<string, Promise<Outcome>>();
  const limiter: FetchLimiter = createFetchLimiter(policy.maxConcurrentFetches, policy.maxBytesInFlight);
  const { metrics, log } = deps;

  async function upstreamsOf(cache: Cache): Promise<CacheUpstream[]> {
    const now = Date.now();
    const hit = configs.get(cache.id);
    if (hit && hit.until > now) return hit.value;
    const own = await getCacheUpstreams(deps.db, cache.id);
    const value = own ?? policy.defaults;
    if (configs.size > MEMO_LIMIT) configs.clear();
    configs.set(cache.id, { value, until: now + CONFIG_TTL_MS });
    return value;
  }

  function remember<T>(map: Map<string, T>, key: string, value: T): void {
    if (map.size >= MEMO_LIMIT) map.clear();
    map.set(key, value);
  }

  function isNegative(key: string): boolean {
    const until = negative.get(key);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    negative.delete(key);
    return false;
  }

  function markNegative(key: string): void {
    found.delete(key);
    if (policy.negativeTtlMs > 0) remember(negative, key, Date.now() + policy.negativeTtlMs);
  }

  async function lookUp(cache: Cache, hash: string, upstreams: CacheUpstream[]): Promise<Found | null> {
    const deadline = Date.now() + policy.narInfoTimeoutMs;
    for (const upstream of upstreams) {
      const base = upstreamBase(upstream.url);
      let text: string | null;
      try {
        text = await fetchNarInfoText(base, hash, deadline);
      } catch (err) {
        metrics.upstreamLookups.inc({ result: "failed" });
        log.warn("upstream narinfo lookup failed", { upstream: base, storePathHash: hash, err: String(err) });
        continue;
      }
      if (text === null) continue;
      try {
        const info = verifyUpstreamNarInfo(text, {
          storePathHash: hash,
          storeDir: cache.storeDir,
          trustedKeys: upstream.trustedKeys,
        });
        metrics.upstreamLookups.inc({ result: "hit" });
        return {
          info,
          narUrl: new URL(info.url, `${base}/`).href,
          upstream: base,
          until: Date.now() + FOUND_TTL_MS,
        };
      } catch (err) {
        if (!(err instanceof NarInfoRejected)) throw err;
        metrics.upstreamLookups.inc({ result: "rejected" });
        log.warn("upstream narinfo rejected", { upstream: base, storePathHash: hash, reason: err.message });
      }
    }
    metrics.upstreamLookups.inc({ result: "miss" });
    return null;
  }

  /** The verified upstream narinfo of the path, or NoSuchObject. */
  async function resolve(cache: Cache, hash: string): Promise<Found> {
    const upstreams = await upstreamsOf(cache);
    if (upstreams.length === 0) throw noSuchObject();
    const key = `${cache.id}:${hash}`;
    const known = found.get(key);
    if (known && known.until > Date.now()) return known;
    if (isNegative(key)) {
      metrics.upstreamLookups.inc({ result: "cached" });
      throw noSuchObject();
    }
    let pending = lookups.get(key);
    if (!pending) {
      pending = lookUp(cache, hash, upstreams).finally(() => lookups.delete(key));
      lookups.set(key, pending);
    }
    const result = await pending;
    if (!result) {
      markNegative(key);
      throw noSuchObject();
    }
    remember(found, key, result);
    return result;
  }

  function narInfoText(cache: Cache, hash: string, info: VerifiedNarInfo): string {
    const print = fingerprint(info.storePath, info.narHash, info.narSize, info.references);
    return formatNarInfo({
      storePath: info.storePath,
      url: `nar/${hash}.nar`,
      compression: nixCompressionName(deps.settings.compression.type),
      narHash: info.narHash,
      narSize: info.narSize,
      references: info.references,
      system: info.system,
      deriver: info.deriver,
      sigs: [signFingerprint(deps, cache.keypair, print), ...info.sigs],
      ca: info.ca,
    });
  }

  /**
   * Fetches, verifies and stores the NAR; `tee` (if any) receives the verified-so-far NAR. True
   * when the path is stored (or linked to an identical stored NAR).
   */
  async function ingest(
    cache: Cache,
    hash: string,
    entry: Found,
    tee: Tee | null,
    waitMs: number,
  ): Promise<Outcome> {
    const { info } = entry;
    const checked = checkNarInfo({
      cache: cache.name,
      store_path_hash: hash,
      store_path: info.storePath,
      references: info.references,
      system: info.system ?? null,
      deriver: info.deriver ?? null,
      sigs: info.sigs,
      ca: info.ca ?? null,
      nar_hash: info.narHash,
      nar_size: info.narSize,
    });
    const existing = await findAndLockNar(deps.db, info.narHash);
    if (existing) {
      try {
        // The trusted signature vouches for the contents: no need to download what is stored.
        if (existing.narSize !== info.narSize) throw new UpstreamFailure("stored NAR has another size");
        await upsertObject(deps.db, objectInput(cache.id, existing.id, checked.info, CREATED_BY));
      } finally {
        await releaseNar(deps.db, existing.id).catch((err: unknown) =>
          log.warn("failed to release NAR lease", { err, narId: existing.id }),
        );
      }
      metrics.upstreamNarFetches.inc({ result: "linked" });
      tee?.finish(null);
      return "stored";
    }
    const release = await limiter.acquire(info.narSize, waitMs);
    if (!release && waitMs === 0) {
      tee?.finish(new UpstreamFailure("fetch limits reached"));
      return "skipped";
    }
    if (!release) {
      metrics.upstreamNarFetches.inc({ result: "failed" });
      log.warn("upstream fetch not started: limits reached", { storePathHash: hash });
      tee?.finish(new UpstreamFailure("fetch limits reached"));
      return "failed";
    }
    metrics.upstreamFetchesInFlight.inc();
    const started = performance.now();
    let nar: Awaited<ReturnType<typeof openNar>> | undefined;
    try {
      nar = await openNar(entry.narUrl, { headerMs: policy.narTimeoutMs, stallMs: policy.narTimeoutMs });
      const decompress = createDecompressStream(info.compression);
      const body = verifiedBody(decompressed(nar.body, decompress), info.narSize, tee);
      await storeNar(deps, cache.id, checked, body, CREATED_BY);
      metrics.upstreamNarFetches.inc({ result: "stored" });
      log.info("upstream NAR stored", {
        upstream: entry.upstream,
        storePath: info.storePath,
        narSize: info.narSize,
        ms: Math.round(performance.now() - started),
      });
      tee?.finish(null);
      return "stored";
    } catch (err) {
      const rejected = err instanceof AtticError || isFormatError(err);
      metrics.upstreamNarFetches.inc({ result: rejected ? "rejected" : "failed" });
      log.warn(rejected ? "upstream NAR rejected" : "upstream NAR fetch failed", {
        upstream: entry.upstream,
        storePath: info.storePath,
        err: String(err),
      });
      tee?.finish(err instanceof Error ? err : new Error(String(err)));
      return "failed";
    } finally {
      nar?.close();
      metrics.upstreamFetchesInFlight.dec();
      release();
    }
  }

  async function* decompressed(
    source: AsyncGenerator<Uint8Array>,
    decompress: Transform,
  ): AsyncGenerator<Uint8Array> {
    const feeder = feed(source, decompress);
    try {
      for await (const piece of decompress as AsyncIterable<Uint8Array>) yield piece;
      await feeder;
    } finally {
      decompress.destroy();
    }
  }

  async function feed(source: AsyncGenerator<Uint8Array>, decompress: Transform): Promise<void> {
    try {
      for await (const piece of source) {
        metrics.upstreamBytes.inc(piece.length);
        if (!decompress.write(piece)) {
          await new Promise<void>((done) => {
            const finish = () => {
              decompress.off("drain", finish);
              decompress.off("close", finish);
              done();
            };
            decompress.on("drain", finish);
            decompress.on("close", finish);
          });
          if (decompress.destroyed) return;
        }
      }
      decompress.end();
    } catch (err) {
      decompress.destroy(err instanceof Error ? err : new Error(String(err)));
    }
  }

  let lookingAhead = 0;

  /**
   * Nix walks a closure one level at a time, asking for a path's references only once it has read
   * the path's narinfo: looking the references up upstream now turns one upstream round trip per
   * level into one garret round trip. Only references the cache lacks, within `LOOKAHEAD_LIMIT`.
   */
  function lookAhead(cache: Cache, self: string, references: readonly string[]): void {
    const unknown = references
      .map((r) => r.slice(0, 32))
      .filter((h) => {
        const key = `${cache.id}:${h}`;
        return h !== self && !found.has(key) && !lookups.has(key) && !negative.has(key);
      });
    if (unknown.length === 0 || lookingAhead >= LOOKAHEAD_LIMIT) return;
    lookingAhead++;
    void getMissingPaths(deps.db, cache.id, unknown)
      .then((missing) => {
        for (const h of missing) {
          if (lookingAhead >= LOOKAHEAD_LIMIT) break;
          lookingAhead++;
          resolve(cache, h)
            .catch(() => undefined)
            .finally(() => lookingAhead--);
        }
      })
      .catch((err: unknown) => log.warn("upstream look-ahead failed", { err: String(err) }))
      .finally(() => lookingAhead--);
  }

  /** Runs one fetch of the path, visible to every request for it until it ends. */
  function startFetch(cache: Cache, hash: string, entry: Found, tee: Tee | null, waitMs: number) {
    const key = `${cache.id}:${hash}`;
    const job = ingest(cache, hash, entry, tee, waitMs).then(
      (outcome) => {
        if (outcome === "failed") markNegative(key);
        return outcome;
      },
      (err: unknown): Outcome => {
        log.error("upstream ingest failed", { err });
        markNegative(key);
        tee?.finish(err instanceof Error ? err : new Error(String(err)));
        return "failed";
      },
    );
    const tracked = job.finally(() => fetches.delete(key));
    fetches.set(key, tracked);
    return tracked;
  }

  return {
    upstreamsOf,
    invalidate(cacheId) {
      configs.delete(cacheId);
      for (const key of [...found.keys(), ...negative.keys()]) {
        if (key.startsWith(`${cacheId}:`)) {
          found.delete(key);
          negative.delete(key);
        }
      }
    },

    async narInfo(cache, hash) {
      const entry = await resolve(cache, hash);
      const key = `${cache.id}:${hash}`;
      // Nix asks for a closure's narinfos first and fetches NARs in dependency order: fetching
      // small NARs now overlaps them instead of paying one upstream round trip per level.
      if (entry.info.narSize <= PREFETCH_MAX_NAR_SIZE && !fetches.has(key)) {
        void startFetch(cache, hash, entry, null, 0);
      }
      lookAhead(cache, hash, entry.info.references);
      return narInfoText(cache, hash, entry.info);
    },

    async nar(cache, hash, head) {
      const key = `${cache.id}:${hash}`;
      for (let attempt = 0; attempt < 3; attempt++) {
        const running = fetches.get(key);
        if (running) {
          const outcome = await running;
          if (outcome === "stored") return null;
          if (outcome === "failed") throw noSuchObject();
          continue;
        }
        const entry = await resolve(cache, hash);
        // Another request may have started the fetch while this one resolved.
        if (fetches.has(key)) continue;
        const tee = head
          ? null
          : new Tee(
              createCompressStream(deps.settings.compression.type, deps.settings.compression.level),
              policy.narTimeoutMs,
            );
        const fetched = startFetch(cache, hash, entry, tee, policy.narTimeoutMs);
        if (!tee) {
          if ((await fetched) !== "stored") throw noSuchObject();
          return null;
        }
        const start = await tee.ready;
        if (start === "failed") throw noSuchObject();
        if (start === "linked") return null;
        return { body: () => tee.drain(), compression: nixCompressionName(deps.settings.compression.type) };
      }
      throw noSuchObject();
    },

    async trustedSigs(cache, print, sigs) {
      if (sigs.length === 0) return [];
      const keys = (await upstreamsOf(cache)).flatMap((u) => u.trustedKeys);
      if (keys.length === 0) return [];
      return sigs.filter((sig) => keys.some((key) => safeVerify(key, print, sig)));
    },
  };
}

/** A configured key that does not parse verifies nothing (configuration checks report it). */
function safeVerify(key: string, print: string, sig: string): boolean {
  try {
    parsePublicKey(key);
    return verifySignature(key, print, sig);
  } catch {
    return false;
  }
}

function isFormatError(err: unknown): boolean {
  return err instanceof Error && (err.name === "NixFormatError" || err.name === "CompressionError");
}

function noSuchObject(): AtticError {
  return new AtticError("NoSuchObject", { canDiscover: true });
}

/**
 * The verified-so-far NAR, for the store pipeline and (one piece behind, so a bad ending is never
 * delivered whole) for the tee. Stops at once when more bytes arrive than NarSize claims.
 */
async function* verifiedBody(
  source: AsyncGenerator<Uint8Array>,
  narSize: number,
  tee: Tee | null,
): AsyncGenerator<Uint8Array> {
  let size = 0;
  let held: Uint8Array | null = null;
  for await (const piece of source) {
    size += piece.length;
    if (size > narSize)
      throw new AtticError("RequestError", { detail: "upstream NAR is larger than its NarSize" });
    if (held && tee) await tee.write(held);
    held = piece;
    yield piece;
  }
  if (held && tee) tee.hold(held);
}

type Start = "streaming" | "stored" | "linked" | "failed";

/**
 * The first client's copy of a NAR being fetched: the verified NAR recompressed with the server's
 * compression, buffered until `HOLD_BYTES` came through or the fetch ended (so a small bad NAR is a
 * 404, not a cut transfer), then streamed with backpressure. A client that stops reading for
 * `stallMs` is dropped; the fetch goes on without it.
 */
class Tee {
  readonly ready: Promise<Start>;
  private settle!: (start: Start) => void;
  private decided = false;
  private finished = false;
  private fed = 0;
  private last: Uint8Array | null = null;
  private dropped = false;
  private readonly queue: Uint8Array[] = [];
  private queued = 0;
  private ended = false;
  private error: Error | null = null;
  private wake: (() => void) | null = null;

  private readonly compress: Transform;
  private readonly stallMs: number;

  constructor(compress: Transform, stallMs: number) {
    this.compress = compress;
    this.stallMs = stallMs;
    this.ready = new Promise((resolve) => {
      this.settle = resolve;
    });
    compress.on("data", (piece: Uint8Array) => {
      this.queue.push(piece);
      this.queued += piece.length;
      if (this.decided && this.queued > HOLD_BYTES) compress.pause();
      this.poke();
    });
    compress.on("end", () => {
      this.ended = true;
      this.poke();
    });
    compress.on("error", (err: Error) => this.fail(err));
  }

  private poke(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private decide(start: Start): void {
    if (this.decided) return;
    this.decided = true;
    this.settle(start);
  }

  /** Feeds one verified piece; waits while the client is behind (at most `stallMs`, then drops it). */
  async write(piece: Uint8Array): Promise<void> {
    if (this.dropped) return;
    this.fed += piece.length;
    if (!this.decided && this.fed >= HOLD_BYTES) this.decide("streaming");
    if (this.compress.write(piece)) return;
    const drained = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => finish(false), this.stallMs);
      const finish = (ok: boolean) => {
        clearTimeout(timer);
        this.compress.off("drain", onDrain);
        this.compress.off("close", onClose);
        resolve(ok);
      };
      const onDrain = () => finish(true);
      const onClose = () => finish(false);
      this.compress.on("drain", onDrain);
      this.compress.on("close", onClose);
    });
    if (!drained) this.drop(new Error("client stopped reading"));
  }

  /** The last piece, written only once the whole NAR verified. */
  hold(piece: Uint8Array): void {
    this.last = piece;
  }

  /** The fetch ended: null = stored (the rest goes out), an error = the client gets a 404 or a cut. */
  finish(err: Error | null): void {
    if (this.finished) return;
    this.finished = true;
    if (err) {
      this.decide("failed");
      this.fail(err);
      return;
    }
    if (this.dropped) {
      this.decide("stored");
      return;
    }
    if (!this.decided && this.fed === 0 && this.last === null) {
      // Nothing streamed: the path was linked to a stored NAR; it is served from storage.
      this.decide("linked");
      this.compress.destroy();
      return;
    }
    if (this.last) this.compress.write(this.last);
    this.last = null;
    this.compress.end();
    this.decide("stored");
  }

  private fail(err: Error): void {
    if (this.error) return;
    this.error = err;
    this.compress.destroy();
    this.poke();
  }

  private drop(err: Error): void {
    this.dropped = true;
    this.fail(err);
  }

  async *drain(): AsyncGenerator<Uint8Array> {
    try {
      for (;;) {
        const piece = this.queue.shift();
        if (piece) {
          this.queued -= piece.length;
          if (this.queued <= HOLD_BYTES && this.compress.isPaused()) this.compress.resume();
          yield piece;
          continue;
        }
        if (this.error) throw this.error;
        if (this.ended) return;
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
      }
    } finally {
      if (!this.ended && !this.error) this.drop(new Error("client went away"));
    }
  }
}
