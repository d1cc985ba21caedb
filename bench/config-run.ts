/**
 * Every measurement for one garretd configuration, against the nginx already serving the corpus.
 *
 * Instance 1 (fresh): push the corpus (MiB/s, peak RSS) → warm-up pass over every narinfo and NAR
 * on both servers → interleaved repetitions of the narinfo pass and the 1/4/16-worker NAR passes →
 * get-missing-paths → (c) one big upload per repetition, alternating with the sha256sum/zstd
 * baseline → (e) narinfo latency while four big uploads run → optional CPU profiles (the same data,
 * restarted under `node --cpu-prof`). Instance 2 (fresh, corpus pushed again): (d) peak RSS during
 * four big uploads and 16 download workers. S3 runs instance 1 without (c), (e) and (d): s3rver,
 * not garretd, would be what those rows measure.
 */
import { randomBytes } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type BaselineSample, measureBaseline } from "./baseline.ts";
import { tempDir } from "./cleanup.ts";
import { createCache, type DbKind, type GarretdHandle, type StorageKind, startGarretd } from "./garretd.ts";
import { connection, postJson } from "./http-client.ts";
import type { PathInfo } from "./nix.ts";
import type { BenchOptions, ConfigName } from "./options.ts";
import { type CpuProfile, type ProfileSummary, summariseProfile } from "./profile-summary.ts";
import {
  type CacheTarget,
  discoverNars,
  downloadLoad,
  downloadPass,
  type NarEntry,
  narinfoPass,
  narinfoProbe,
} from "./read-bench.ts";
import type { ConfigResult } from "./report.ts";
import { sampleRss } from "./rss.ts";
import { MiB, mibPerSecond, percentile } from "./stats.ts";
import { uploadInChild } from "./upload-runner.ts";

const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");
const CACHE = "bench";
const WORKER_COUNTS = [1, 4, 16] as const;

const KINDS: Record<ConfigName, { db: DbKind; storage: StorageKind }> = {
  embedded: { db: "pglite", storage: "local" },
  postgres: { db: "postgres", storage: "local" },
  s3: { db: "postgres", storage: "s3" },
};

export interface SharedInputs {
  corpus: PathInfo[];
  /** reps for (c), then four for (d)/(e). */
  bigs: PathInfo[];
  /** A NAR of the same kind of bytes as the big paths, on disk, for the baseline. */
  baselineFile: string;
  baselineBytes: number;
  nginx: CacheTarget;
  nginxNars: NarEntry[];
}

function hashOf(p: PathInfo): string {
  return p.path.slice(p.path.lastIndexOf("/") + 1, p.path.lastIndexOf("/") + 33);
}

async function pushCorpus(g: GarretdHandle, corpus: PathInfo[], parallelism: number) {
  const rss = await sampleRss(g.pid);
  const up = await uploadInChild({
    url: g.url,
    token: g.rootToken,
    cache: CACHE,
    paths: corpus,
    parallelism,
  });
  const peak = await rss.stop();
  return { mibPerSecond: mibPerSecond(up.bytes, up.ms), peak };
}

const NIX32 = "0123456789abcdfghijklmnpqrsvwxyz";

function randomHash(): string {
  const bytes = randomBytes(32);
  let s = "";
  for (let i = 0; i < 32; i++) s += NIX32[(bytes[i] as number) & 31];
  return s;
}

async function readProfile(dir: string, skipMs: number): Promise<ProfileSummary> {
  const files = (await readdir(dir)).filter((f) => f.endsWith(".cpuprofile"));
  const [file] = files;
  if (!file) throw new Error(`no .cpuprofile written in ${dir}`);
  const profile = JSON.parse(await readFile(join(dir, file), "utf8")) as CpuProfile;
  return summariseProfile(profile, { skipMs, repoRoot: REPO_ROOT, top: 20 });
}

export async function runConfig(
  name: ConfigName,
  opts: BenchOptions,
  shared: SharedInputs,
  log: (msg: string) => void,
): Promise<ConfigResult> {
  const kind = KINDS[name];
  const hashes = shared.corpus.map(hashOf);
  log(`${name}: starting garretd (${kind.db} + ${kind.storage})`);
  const g = await startGarretd({ ...kind, postgresUrl: opts.postgresUrl });
  await createCache(g, CACHE);
  const garret: CacheTarget = { name: "garret", base: `${g.url}/${CACHE}` };
  const nginx = shared.nginx;
  const narMiB = shared.corpus.reduce((a, p) => a + p.narSize, 0) / MiB;

  log(
    `${name}: pushing the corpus (${shared.corpus.length} paths, ${narMiB.toFixed(0)} MiB) with ${opts.uploadParallelism} parallel uploads`,
  );
  const push1 = await pushCorpus(g, shared.corpus, opts.uploadParallelism);
  const result: ConfigResult = {
    config: name,
    corpusPush: {
      parallelism: opts.uploadParallelism,
      narMiB,
      mibPerSecond: [push1.mibPerSecond],
      peakRss: [push1.peak],
    },
    narinfo: { garretMsPerLookup: [], nginxMsPerLookup: [], lookups: hashes.length },
    downloads: WORKER_COUNTS.map((workers) => ({
      workers,
      garret: { wireMiBps: [], narMiBps: [] },
      nginx: { wireMiBps: [], narMiBps: [] },
    })),
    missingPaths: { hashes: opts.missingPathsHashes, missing: 0, ms: [] },
  };

  log(`${name}: warm-up pass (every narinfo and NAR on both servers)`);
  const garretNars = await discoverNars(garret, hashes);
  await downloadPass(garret, garretNars, 4);
  await downloadPass(nginx, shared.nginxNars, 4);
  const narsOf = (t: CacheTarget) => (t === garret ? garretNars : shared.nginxNars);

  for (let rep = 0; rep < opts.reps; rep++) {
    const order = rep % 2 === 0 ? [garret, nginx] : [nginx, garret];
    log(`${name}: read repetition ${rep + 1}/${opts.reps}`);
    for (const t of order) {
      const p = await narinfoPass(t, hashes);
      (t === garret ? result.narinfo.garretMsPerLookup : result.narinfo.nginxMsPerLookup).push(p.perLookupMs);
    }
    for (const [i, workers] of WORKER_COUNTS.entries()) {
      for (const t of order) {
        const d = await downloadPass(t, narsOf(t), workers);
        const slot = result.downloads[i]?.[t === garret ? "garret" : "nginx"];
        slot?.wireMiBps.push(mibPerSecond(d.wireBytes, d.ms));
        slot?.narMiBps.push(mibPerSecond(d.narBytes, d.ms));
      }
    }
  }

  log(`${name}: get-missing-paths with ${opts.missingPathsHashes} hashes`);
  const query = [...hashes];
  while (query.length < opts.missingPathsHashes) query.push(randomHash());
  query.length = opts.missingPathsHashes;
  const agent = connection();
  for (let rep = 0; rep <= opts.reps; rep++) {
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
  agent.destroy();

  if (name !== "s3") {
    const bigMiB = (shared.bigs[0]?.narSize ?? 0) / MiB;
    const big: NonNullable<ConfigResult["bigUpload"]> = {
      narMiB: bigMiB,
      garretMiBps: [],
      peakRss: [],
      sha256MiBps: [],
      zstdMiBps: [],
      baselineMiBps: [],
    };
    for (let rep = 0; rep < opts.reps; rep++) {
      const path = shared.bigs[rep] as PathInfo;
      const runBaseline = async () => {
        const b: BaselineSample = await measureBaseline(shared.baselineFile, shared.baselineBytes);
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
      log(`${name}: big upload repetition ${rep + 1}/${opts.reps} (${bigMiB.toFixed(0)} MiB) and baseline`);
      if (rep % 2 === 0) {
        await runUpload();
        await runBaseline();
      } else {
        await runBaseline();
        await runUpload();
      }
    }
    result.bigUpload = big;

    const four = shared.bigs.slice(opts.reps, opts.reps + 4);
    log(`${name}: narinfo latency, idle and then while 4 big uploads run`);
    const idleProbe = narinfoProbe(garret, hashes);
    await new Promise((r) => setTimeout(r, 3000));
    const idle = await idleProbe.stop();
    const probe = narinfoProbe(garret, hashes);
    const up = await uploadInChild({
      url: g.url,
      token: g.rootToken,
      cache: CACHE,
      paths: four,
      parallelism: 4,
    });
    const loaded = await probe.stop();
    const stats = (s: number[]) => ({ p50: percentile(s, 50), p99: percentile(s, 99), count: s.length });
    result.underLoad = {
      uploads: four.length,
      uploadMiBps: mibPerSecond(up.bytes, up.ms),
      idle: stats(idle),
      loaded: stats(loaded),
    };
  }

  if (opts.profile && name === "embedded") {
    result.profile = {};
    for (const workload of ["narinfo", "download"] as const) {
      const dir = await tempDir(`prof-${workload}`);
      log(`${name}: CPU profile of garretd during ${workload} passes`);
      const launched = performance.now();
      await g.restart({ cpuProfDir: dir });
      const target: CacheTarget = { name: "garret", base: `${g.url}/${CACHE}` };
      // The first pass after a restart warms caches and JIT; the profile window starts after it.
      const nars = await discoverNars(target, hashes);
      if (workload === "download") await downloadPass(target, nars, 4);
      const skipMs = performance.now() - launched;
      const until = performance.now() + (opts.quick ? 4000 : 10_000);
      for (let i = 0; performance.now() < until || i < 2; i++) {
        if (workload === "narinfo") await narinfoPass(target, hashes);
        else await downloadPass(target, nars, i % 2 === 0 ? 1 : 16);
      }
      await g.stop();
      result.profile[workload] = await readProfile(dir, skipMs);
    }
  }
  await g.destroy();

  if (name !== "s3") {
    log(
      `${name}: fresh instance for peak RSS under 4 big uploads + 16 downloads (corpus pushed again first)`,
    );
    const g2 = await startGarretd({ ...kind, postgresUrl: opts.postgresUrl });
    await createCache(g2, CACHE);
    const push2 = await pushCorpus(g2, shared.corpus, opts.uploadParallelism);
    result.corpusPush.mibPerSecond.push(push2.mibPerSecond);
    result.corpusPush.peakRss.push(push2.peak);
    const target: CacheTarget = { name: "garret", base: `${g2.url}/${CACHE}` };
    const nars = await discoverNars(target, hashes);
    const four = shared.bigs.slice(opts.reps, opts.reps + 4);
    const rss = await sampleRss(g2.pid);
    const load = downloadLoad(target, nars, 16);
    const up = await uploadInChild({
      url: g2.url,
      token: g2.rootToken,
      cache: CACHE,
      paths: four,
      parallelism: 4,
    });
    await load.stop();
    const peak = await rss.stop();
    result.rssUnderLoad = {
      uploads: four.length,
      downloadWorkers: 16,
      peakRss: peak,
      uploadMiBps: mibPerSecond(up.bytes, up.ms),
    };
    await g2.destroy();
  }
  return result;
}
