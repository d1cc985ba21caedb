/**
 * Every measurement for one garretd configuration, against the nginx already serving the corpus.
 *
 * A fresh instance: push the corpus (MiB/s, peak RSS) → warm-up passes over every narinfo and NAR
 * on both servers → interleaved repetitions of the narinfo pass and the 1/4/16-worker NAR passes →
 * get-missing-paths → (c) one big upload per repetition, alternating with the sha256sum/zstd
 * baseline → (e) narinfo latency while four big uploads run → (d) peak RSS while four other big
 * uploads and 16 download workers run (each window at most --load-seconds; uploads still running
 * then are cut off) → optional CPU profiles (same data, restarted under `node --cpu-prof`).
 * Every big upload uses a different big path, so no NAR or chunk is deduplicated.
 * Before all that, the write rows of issue 17 (ingest-rows.ts), each on throwaway fresh instances.
 * S3 serves a subset of the corpus and skips (c), (d) and (e): s3rver, not garretd, would be what
 * those rows measure.
 */
import { randomBytes } from "node:crypto";
import { measureBaseline } from "./baseline.ts";
import { tempDir } from "./cleanup.ts";
import { createCache, type DbKind, type GarretdHandle, type StorageKind, startGarretd } from "./garretd.ts";
import { connection, postJson } from "./http-client.ts";
import { ingestRows } from "./ingest-rows.ts";
import type { PathInfo } from "./nix.ts";
import type { BenchOptions, ConfigName } from "./options.ts";
import { readProfile } from "./profile-files.ts";
import {
  type CacheTarget,
  discoverNars,
  downloadLoad,
  downloadPass,
  NARINFO_PASS_LOOKUPS,
  type NarEntry,
  narinfoPass,
  narinfoProbe,
  WARM_UP_NARS,
  warmUpDownloads,
} from "./read-bench.ts";
import type { ConfigResult } from "./report.ts";
import { sampleRss } from "./rss.ts";
import { MiB, mibPerSecond, percentile } from "./stats.ts";
import { uploadInChild, uploadsWithin } from "./upload-runner.ts";

const CACHE = "bench";
const WORKER_COUNTS = [1, 4, 16] as const;

const KINDS: Record<ConfigName, { db: DbKind; storage: StorageKind }> = {
  embedded: { db: "sqlite", storage: "local" },
  postgres: { db: "postgres", storage: "local" },
  s3: { db: "postgres", storage: "s3" },
};

export interface SharedInputs {
  corpus: PathInfo[];
  /** bigReps for (c), then four for (e), then four for (d). */
  bigs: PathInfo[];
  /** A NAR of the same kind of bytes as the big paths, on disk, for the baseline. */
  baselineFile: string;
  baselineBytes: number;
  nginx: CacheTarget;
  /** Where nginx serves each corpus NAR, in corpus order. */
  nginxNars: NarEntry[];
  /** Every corpus NAR dumped beforehand (`dumpNarsTo`), and all of them in one file. */
  narDir: string;
  corpusNarFile: string;
  corpusNarBytes: number;
}

export function hashOf(p: PathInfo): string {
  const base = p.path.slice(p.path.lastIndexOf("/") + 1);
  return base.slice(0, 32);
}

const NIX32 = "0123456789abcdfghijklmnpqrsvwxyz";

function randomHash(): string {
  const bytes = randomBytes(32);
  let s = "";
  for (let i = 0; i < 32; i++) s += NIX32[(bytes[i] as number) & 31];
  return s;
}

/** The first corpus paths (dependencies first) whose NARs add up to at most `mib`. */
function subset(
  corpus: PathInfo[],
  nginxNars: NarEntry[],
  mib: number,
): { paths: PathInfo[]; nars: NarEntry[] } {
  let total = 0;
  let n = 0;
  while (n < corpus.length && total + (corpus[n] as PathInfo).narSize <= mib * MiB)
    total += (corpus[n++] as PathInfo).narSize;
  // Dependencies come first, but a reference may point further back than the cut; keep closures whole.
  const kept = new Set(corpus.slice(0, Math.max(n, 1)).map((p) => p.path));
  const paths = corpus.filter(
    (p) => kept.has(p.path) && p.references.every((r) => r === p.path || kept.has(r)),
  );
  const keep = new Set(paths.map((p) => p.path));
  return { paths, nars: nginxNars.filter((_, i) => keep.has((corpus[i] as PathInfo).path)) };
}

async function readRows(
  result: ConfigResult,
  garret: CacheTarget,
  nginx: CacheTarget,
  hashes: string[],
  nars: { garret: NarEntry[]; nginx: NarEntry[] },
  reps: number,
  log: (msg: string) => void,
): Promise<void> {
  log(`${result.config}: warm-up passes (${WARM_UP_NARS} NARs on both servers)`);
  await warmUpDownloads(garret, nars.garret);
  await warmUpDownloads(nginx, nars.nginx);
  for (let rep = 0; rep < reps; rep++) {
    const order = rep % 2 === 0 ? [garret, nginx] : [nginx, garret];
    log(`${result.config}: read repetition ${rep + 1}/${reps}`);
    for (const t of order) {
      const p = await narinfoPass(t, hashes);
      (t === garret ? result.narinfo.garretMsPerLookup : result.narinfo.nginxMsPerLookup).push(p.perLookupMs);
      (t === garret ? result.narinfo.garretP50Ms : result.narinfo.nginxP50Ms).push(p.p50Ms);
    }
    for (const [i, workers] of WORKER_COUNTS.entries()) {
      for (const t of order) {
        const d = await downloadPass(t, t === garret ? nars.garret : nars.nginx, workers);
        const slot = result.downloads[i]?.[t === garret ? "garret" : "nginx"];
        slot?.wireMiBps.push(mibPerSecond(d.wireBytes, d.ms));
        slot?.narMiBps.push(mibPerSecond(d.narBytes, d.ms));
      }
    }
  }
}

async function missingPathsRow(
  result: ConfigResult,
  g: GarretdHandle,
  hashes: string[],
  count: number,
  reps: number,
) {
  const query = [...hashes];
  while (query.length < count) query.push(randomHash());
  query.length = count;
  const agent = connection();
  try {
    for (let rep = 0; rep <= reps; rep++) {
      const started = performance.now();
      const r = await postJson(agent, `${g.url}/_api/v1/get-missing-paths`, g.rootToken, {
        cache: CACHE,
        store_path_hashes: query,
      });
      const ms = performance.now() - started;
      if (r.status !== 200)
        throw new Error(`get-missing-paths answered ${r.status}: ${JSON.stringify(r.json)}`);
      result.missingPaths.missing = ((r.json as { missing_paths?: unknown[] }).missing_paths ?? []).length;
      // The first request opens the connection and warms the query plan; it is not counted.
      if (rep > 0) result.missingPaths.ms.push(ms);
    }
  } finally {
    agent.destroy();
  }
}

async function bigUploadRow(
  result: ConfigResult,
  g: GarretdHandle,
  shared: SharedInputs,
  opts: BenchOptions,
  log: (msg: string) => void,
) {
  const big: NonNullable<ConfigResult["bigUpload"]> = {
    narMiB: (shared.bigs[0]?.narSize ?? 0) / MiB,
    garretMiBps: [],
    peakRss: [],
    sha256MiBps: [],
    zstdMiBps: [],
    baselineMiBps: [],
  };
  for (let rep = 0; rep < opts.bigReps; rep++) {
    const path = shared.bigs[rep] as PathInfo;
    const runBaseline = async () => {
      const b = await measureBaseline(shared.baselineFile, shared.baselineBytes);
      big.sha256MiBps.push(b.sha256MiBps);
      big.zstdMiBps.push(b.zstdMiBps);
      big.baselineMiBps.push(b.combinedMiBps);
    };
    const runUpload = async () => {
      const rss = await sampleRss(g.pid);
      const up = await uploadInChild({
        url: g.url,
        token: g.rootToken,
        cache: CACHE,
        paths: [path],
        parallelism: 1,
      });
      big.peakRss.push(await rss.stop());
      big.garretMiBps.push(mibPerSecond(up.bytes, up.ms));
    };
    log(
      `${result.config}: big upload ${rep + 1}/${opts.bigReps} (${big.narMiB.toFixed(0)} MiB) and the sha256sum/zstd baseline`,
    );
    if (rep % 2 === 0) {
      await runUpload();
      await runBaseline();
    } else {
      await runBaseline();
      await runUpload();
    }
  }
  result.bigUpload = big;
}

async function loadRows(
  result: ConfigResult,
  g: GarretdHandle,
  garret: CacheTarget,
  hashes: string[],
  garretNars: NarEntry[],
  shared: SharedInputs,
  opts: BenchOptions,
  log: (msg: string) => void,
) {
  const windowMs = opts.loadSeconds * 1000;
  const stats = (s: number[]) => ({ p50: percentile(s, 50), p99: percentile(s, 99), count: s.length });
  const job = (paths: PathInfo[]) => ({
    url: g.url,
    token: g.rootToken,
    cache: CACHE,
    paths,
    parallelism: 4,
  });

  const forE = shared.bigs.slice(opts.bigReps, opts.bigReps + 4);
  log(
    `${result.config}: narinfo latency, idle and then while 4 big uploads run (at most ${opts.loadSeconds} s)`,
  );
  const idleProbe = narinfoProbe(garret, hashes);
  await new Promise((r) => setTimeout(r, 3000));
  const idle = await idleProbe.stop();
  const probe = narinfoProbe(garret, hashes);
  const e = await uploadsWithin(job(forE), windowMs);
  const loaded = await probe.stop();
  result.underLoad = {
    uploads: forE.length,
    windowMs: e.ms,
    completed: e.batch !== null,
    uploadMiBps: e.batch ? mibPerSecond(e.batch.bytes, e.batch.ms) : null,
    idle: stats(idle),
    loaded: stats(loaded),
  };

  const forD = shared.bigs.slice(opts.bigReps + 4, opts.bigReps + 8);
  log(
    `${result.config}: peak RSS while 4 other big uploads and 16 download workers run (at most ${opts.loadSeconds} s)`,
  );
  const rss = await sampleRss(g.pid);
  const load = downloadLoad(garret, garretNars, 16);
  const d = await uploadsWithin(job(forD), windowMs);
  const downloaded = await load.stop();
  result.rssUnderLoad = {
    uploads: forD.length,
    downloadWorkers: 16,
    windowMs: d.ms,
    completed: d.batch !== null,
    peakRss: await rss.stop(),
    uploadMiBps: d.batch ? mibPerSecond(d.batch.bytes, d.batch.ms) : null,
    downloadMiBps: mibPerSecond(downloaded, d.ms),
  };
}

async function profiles(g: GarretdHandle, hashes: string[], quick: boolean, log: (msg: string) => void) {
  const out: NonNullable<ConfigResult["profile"]> = {};
  for (const workload of ["narinfo", "download"] as const) {
    const dir = await tempDir(`prof-${workload}`);
    log(`embedded: CPU profile of garretd during ${workload} passes`);
    const launched = performance.now();
    await g.restart({ cpuProfDir: dir });
    const target: CacheTarget = { name: "garret", base: `${g.url}/${CACHE}` };
    // The warm-up passes after a restart warm caches and JIT; the profile window starts after them.
    const nars = await discoverNars(target, hashes);
    if (workload === "download") await warmUpDownloads(target, nars);
    const skipMs = performance.now() - launched;
    const until = performance.now() + (quick ? 4000 : 10_000);
    for (let i = 0; performance.now() < until || i < 2; i++) {
      if (workload === "narinfo") await narinfoPass(target, hashes);
      else await downloadPass(target, nars, i % 2 === 0 ? 1 : 16);
    }
    await g.stop();
    out[workload] = await readProfile(dir, skipMs);
  }
  return out;
}

export async function runConfig(
  name: ConfigName,
  opts: BenchOptions,
  shared: SharedInputs,
  log: (msg: string) => void,
): Promise<ConfigResult> {
  const kind = KINDS[name];
  const { paths: corpus, nars: nginxNars } =
    name === "s3"
      ? subset(shared.corpus, shared.nginxNars, opts.s3CorpusMiB)
      : { paths: shared.corpus, nars: shared.nginxNars };
  const hashes = corpus.map(hashOf);
  const narMiB = corpus.reduce((a, p) => a + p.narSize, 0) / MiB;
  const ingest =
    name === "s3" || opts.onlyLoad
      ? undefined
      : await ingestRows(
          name,
          kind,
          opts,
          shared,
          log,
          opts.profile && (name === "embedded" || opts.ingestOnly),
        );
  const result: ConfigResult = {
    config: name,
    ingest,
    narinfo: {
      garretMsPerLookup: [],
      nginxMsPerLookup: [],
      garretP50Ms: [],
      nginxP50Ms: [],
      lookups: Math.ceil(NARINFO_PASS_LOOKUPS / hashes.length) * hashes.length,
    },
    downloads: WORKER_COUNTS.map((workers) => ({
      workers,
      garret: { wireMiBps: [], narMiBps: [] },
      nginx: { wireMiBps: [], narMiBps: [] },
    })),
    missingPaths: { hashes: opts.missingPathsHashes, missing: 0, ms: [] },
  };
  if (opts.ingestOnly) return result;
  log(`${name}: starting garretd (${kind.db} + ${kind.storage})`);
  const g = await startGarretd({ ...kind, postgresUrl: opts.postgresUrl });
  try {
    await createCache(g, CACHE);
    const garret: CacheTarget = { name: "garret", base: `${g.url}/${CACHE}` };

    log(
      `${name}: pushing ${corpus.length} paths (${narMiB.toFixed(0)} MiB) with ${opts.uploadParallelism} parallel uploads`,
    );
    const rss = await sampleRss(g.pid);
    const push = await uploadInChild({
      url: g.url,
      token: g.rootToken,
      cache: CACHE,
      paths: corpus,
      parallelism: opts.uploadParallelism,
      narDir: shared.narDir,
    });
    result.corpusPush = {
      paths: corpus.length,
      parallelism: opts.uploadParallelism,
      narMiB,
      mibPerSecond: mibPerSecond(push.bytes, push.ms),
      peakRss: await rss.stop(),
    };

    const garretNars = await discoverNars(garret, hashes);
    if (!opts.onlyLoad) {
      await readRows(
        result,
        garret,
        shared.nginx,
        hashes,
        { garret: garretNars, nginx: nginxNars },
        opts.reps,
        log,
      );
      log(`${name}: get-missing-paths with ${opts.missingPathsHashes} hashes`);
      await missingPathsRow(result, g, hashes, opts.missingPathsHashes, opts.reps);
    }
    if (name !== "s3") {
      if (!opts.onlyLoad) await bigUploadRow(result, g, shared, opts, log);
      await loadRows(result, g, garret, hashes, garretNars, shared, opts, log);
    }
    if (opts.profile && name === "embedded") result.profile = await profiles(g, hashes, opts.quick, log);
    return result;
  } catch (err) {
    const tail = g.logs().trim().split("\n").slice(-15).join("\n");
    throw new Error(
      `${name}: ${err instanceof Error ? err.message : String(err)}\n--- garretd (${g.alive() ? "running" : "not running"}), last lines:\n${tail}`,
    );
  } finally {
    await g.destroy();
  }
}
