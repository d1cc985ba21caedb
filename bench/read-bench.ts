/**
 * cache-shootout's read measurements against one HTTP binary cache (garretd or nginx):
 * - narinfo pass: GET every `<hash>.narinfo` sequentially on one keep-alive connection;
 * - NAR pass with N workers: a shared queue of every NAR, each worker one keep-alive connection,
 *   bodies counted (bytes as served, i.e. compressed) and discarded;
 * - narinfo probe: sequential GETs in a loop, each request's latency kept, until told to stop.
 */
import { connection, fetchDiscard, fetchText, parseNarInfo } from "./http-client.ts";
import { percentile } from "./stats.ts";

export interface CacheTarget {
  name: string;
  /** URL such that `${base}/${hash}.narinfo` is a narinfo. */
  base: string;
}

export interface NarEntry {
  url: string;
  narSize: number;
}

/** Fetches every narinfo once (the warm-up pass) and returns where each NAR lives. */
export async function discoverNars(target: CacheTarget, hashes: readonly string[]): Promise<NarEntry[]> {
  const agent = connection();
  const out: NarEntry[] = [];
  try {
    for (const hash of hashes) {
      const r = await fetchText(agent, `${target.base}/${hash}.narinfo`);
      if (r.status !== 200) throw new Error(`${target.name}: ${hash}.narinfo answered ${r.status}`);
      const info = parseNarInfo((r.body as Buffer).toString("utf8"));
      out.push({ url: new URL(info.url, `${target.base}/`).toString(), narSize: info.narSize });
    }
  } finally {
    agent.destroy();
  }
  return out;
}

export interface NarinfoPass {
  ms: number;
  /** Lookups made: every hash in order, the list repeated until at least `minLookups`. */
  lookups: number;
  perLookupMs: number;
  /** Median single-lookup latency (the mean above includes the tail). */
  p50Ms: number;
}

/**
 * Lookups per narinfo pass: a closure of 150-400 paths is 20-60 ms of lookups, shorter than the
 * scheduling hiccups of a shared machine, so one pass of it measured the neighbours. Going through
 * the list again (same order, same connection) keeps cache-shootout's method and steadies the mean.
 */
export const NARINFO_PASS_LOOKUPS = 3000;

export async function narinfoPass(
  target: CacheTarget,
  hashes: readonly string[],
  minLookups = NARINFO_PASS_LOOKUPS,
): Promise<NarinfoPass> {
  const agent = connection();
  try {
    // Open the connection first so the pass times lookups, not the TCP handshake.
    await fetchText(agent, `${target.base}/nix-cache-info`);
    const latencies: number[] = [];
    const started = performance.now();
    while (latencies.length < minLookups) {
      for (const hash of hashes) {
        const t = performance.now();
        const r = await fetchText(agent, `${target.base}/${hash}.narinfo`);
        latencies.push(performance.now() - t);
        if (r.status !== 200) throw new Error(`${target.name}: ${hash}.narinfo answered ${r.status}`);
      }
    }
    const ms = performance.now() - started;
    return {
      ms,
      lookups: latencies.length,
      perLookupMs: ms / latencies.length,
      p50Ms: percentile(latencies, 50),
    };
  } finally {
    agent.destroy();
  }
}

export interface DownloadPass {
  workers: number;
  ms: number;
  wireBytes: number;
  narBytes: number;
}

export async function downloadPass(
  target: CacheTarget,
  nars: readonly NarEntry[],
  workers: number,
): Promise<DownloadPass> {
  let next = 0;
  let wireBytes = 0;
  let narBytes = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    const agent = connection();
    try {
      for (let i = next++; i < nars.length; i = next++) {
        const nar = nars[i] as NarEntry;
        const r = await fetchDiscard(agent, nar.url);
        if (r.status !== 200) throw new Error(`${target.name}: ${nar.url} answered ${r.status}`);
        wireBytes += r.bytes;
        narBytes += nar.narSize;
      }
    } finally {
      agent.destroy();
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
  return { workers, ms: performance.now() - started, wireBytes, narBytes };
}

/**
 * NARs a server serves before its download rows are measured (and at most this many bytes). garretd
 * is a JIT-compiled process that runs for days: after the single warm-up pass the benches used to
 * make, its download path was still being compiled during the measured passes (V8's compiler threads
 * ~10% of its CPU, the main thread's user time per NAR up to ~50% above its steady state; after 20
 * passes of the mixed corpus, 0.69 -> 0.58 ms of CPU per NAR at 1 connection: docs/performance.md,
 * round 5). nginx gets the same warm-up.
 */
export const WARM_UP_NARS = 3000;
export const WARM_UP_BYTES = 4 * 2 ** 30;

/** Download passes with 4 workers until `WARM_UP_NARS` NARs or `WARM_UP_BYTES` have been served. */
export async function warmUpDownloads(target: CacheTarget, nars: readonly NarEntry[]): Promise<void> {
  let served = 0;
  let bytes = 0;
  while (served < WARM_UP_NARS && bytes < WARM_UP_BYTES) {
    const pass = await downloadPass(target, nars, 4);
    served += nars.length;
    bytes += pass.wireBytes;
  }
}

export interface Probe {
  /** Stops the loop and returns every latency in ms. */
  stop(): Promise<number[]>;
}

/** Sequential narinfo GETs on one connection, round-robin over `hashes`, until stopped. */
export function narinfoProbe(target: CacheTarget, hashes: readonly string[]): Probe {
  const latencies: number[] = [];
  let running = true;
  const agent = connection();
  const loop = (async () => {
    for (let i = 0; running; i = (i + 1) % hashes.length) {
      const started = performance.now();
      const r = await fetchText(agent, `${target.base}/${hashes[i]}.narinfo`);
      latencies.push(performance.now() - started);
      if (r.status !== 200) throw new Error(`${target.name}: narinfo answered ${r.status} under load`);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop.finally(() => agent.destroy());
      return latencies;
    },
  };
}

/** Loops download passes with `workers` connections until stopped (load for the RSS row). */
export function downloadLoad(
  target: CacheTarget,
  nars: readonly NarEntry[],
  workers: number,
): { stop(): Promise<number> } {
  let running = true;
  let bytes = 0;
  const loop = (async () => {
    while (running) bytes += (await downloadPass(target, nars, workers)).wireBytes;
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return bytes;
    },
  };
}
