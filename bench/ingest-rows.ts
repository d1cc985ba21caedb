/**
 * Issue 17's write rows, each on a fresh garretd (nothing stored yet, so nothing deduplicates):
 *
 * - attic push: every corpus path through `PUT /_api/v1/upload-path` with `--upload-parallelism`
 *   (5, as `attic push -j 5`) in flight, NARs read from files dumped beforehand (the client's own
 *   `nix-store --dump` is not garret's cost), against `sha256sum` + `zstd -8 -T1` of the same bytes
 *   (the corpus NARs concatenated, from the page cache) spread over every core:
 *   bytes / ((t_sha256sum + t_zstd) / cores). On a loaded machine wall times say little, so the
 *   CPU-seconds of both sides are kept too: garretd's (all threads) and the two commands'.
 * - nix copy: `nix copy --to 'http://…/CACHE?compression=zstd'` of the corpus into garret against
 *   `nix copy --to 'file://…?compression=zstd'` of the same paths into a fresh directory.
 *
 * garretd's CPU-seconds (all threads) are taken for both, and with `profile` a further fresh
 * instance runs each push under `node --cpu-prof` (main thread and workers summarised).
 * Repetitions alternate which side goes first.
 */
import { cpus } from "node:os";
import { measureBaseline } from "./baseline.ts";
import { removeTree, tempDir } from "./cleanup.ts";
import type { SharedInputs } from "./config-run.ts";
import { cpuSeconds } from "./cpu-time.ts";
import { createCache, type DbKind, type GarretdHandle, type StorageKind, startGarretd } from "./garretd.ts";
import { copyToFileCache, copyToHttpCache } from "./nix.ts";
import type { BenchOptions, ConfigName } from "./options.ts";
import { readProfile, readWorkerProfiles } from "./profile-files.ts";
import type { IngestResult } from "./report.ts";
import { uploadInChild } from "./upload-runner.ts";

const CACHE = "ingest";

async function fresh(
  kind: { db: DbKind; storage: StorageKind },
  opts: BenchOptions,
  cpuProfDir?: string,
): Promise<{ g: GarretdHandle; skipMs: number }> {
  const g = await startGarretd({ ...kind, postgresUrl: opts.postgresUrl });
  // The profile starts with the restarted process: its start-up and the cache creation are skipped.
  const launched = performance.now();
  if (cpuProfDir) await g.restart({ cpuProfDir });
  await createCache(g, CACHE);
  return { g, skipMs: performance.now() - launched };
}

type Push = "attic" | "nix";

/** One push of the whole corpus into a fresh instance; wall ms and garretd's CPU-seconds. */
async function push(
  how: Push,
  kind: { db: DbKind; storage: StorageKind },
  opts: BenchOptions,
  shared: SharedInputs,
  cpuProfDir?: string,
): Promise<{ ms: number; cpu: number; skipMs: number }> {
  const { g, skipMs } = await fresh(kind, opts, cpuProfDir);
  try {
    const cpuBefore = await cpuSeconds(g.pid);
    const started = performance.now();
    if (how === "attic") {
      await uploadInChild({
        url: g.url,
        token: g.rootToken,
        cache: CACHE,
        paths: shared.corpus,
        parallelism: opts.uploadParallelism,
        narDir: shared.narDir,
      });
    } else {
      await copyToHttpCache(
        `${g.url}/${CACHE}`,
        g.rootToken,
        shared.corpus.map((p) => p.path),
      );
    }
    const ms = performance.now() - started;
    const cpu = (await cpuSeconds(g.pid)) - cpuBefore;
    if (cpuProfDir) await g.stop();
    return { ms, cpu, skipMs };
  } finally {
    await g.destroy();
  }
}

async function fileCopyMs(shared: SharedInputs): Promise<number> {
  const dir = await tempDir("file-copy");
  try {
    const started = performance.now();
    await copyToFileCache(
      dir,
      shared.corpus.map((p) => p.path),
    );
    return performance.now() - started;
  } finally {
    await removeTree(dir);
  }
}

export async function ingestRows(
  name: ConfigName,
  kind: { db: DbKind; storage: StorageKind },
  opts: BenchOptions,
  shared: SharedInputs,
  log: (msg: string) => void,
  profile: boolean,
): Promise<IngestResult> {
  const cores = cpus().length;
  const result: IngestResult = {
    narBytes: shared.corpusNarBytes,
    paths: shared.corpus.length,
    parallelism: opts.uploadParallelism,
    cores,
    attic: { ms: [], cpuSeconds: [] },
    baseline: { sha256Ms: [], zstdMs: [], cpuSeconds: [] },
    nixCopy: { ms: [], cpuSeconds: [] },
    fileCopy: { ms: [] },
  };
  for (let rep = 0; rep < opts.ingestReps; rep++) {
    const of = `${rep + 1}/${opts.ingestReps}`;
    const attic = async () => {
      log(`${name}: fresh attic push (${of})`);
      const r = await push("attic", kind, opts, shared);
      result.attic.ms.push(r.ms);
      result.attic.cpuSeconds.push(r.cpu);
    };
    const baseline = async () => {
      log(`${name}: sha256sum and zstd -8 -T1 of the corpus NARs (${of})`);
      const b = await measureBaseline(shared.corpusNarFile, shared.corpusNarBytes);
      result.baseline.sha256Ms.push((shared.corpusNarBytes / (b.sha256MiBps * 1024 * 1024)) * 1000);
      result.baseline.zstdMs.push((shared.corpusNarBytes / (b.zstdMiBps * 1024 * 1024)) * 1000);
      result.baseline.cpuSeconds.push(b.cpuSeconds);
    };
    const nixCopy = async () => {
      log(`${name}: nix copy --to garret (${of})`);
      const r = await push("nix", kind, opts, shared);
      result.nixCopy.ms.push(r.ms);
      result.nixCopy.cpuSeconds.push(r.cpu);
    };
    const fileCopy = async () => {
      log(`${name}: nix copy --to file:// (${of})`);
      result.fileCopy.ms.push(await fileCopyMs(shared));
    };
    const steps = rep % 2 === 0 ? [attic, baseline, nixCopy, fileCopy] : [baseline, attic, fileCopy, nixCopy];
    for (const step of steps) await step();
  }
  if (profile) {
    result.profiles = {};
    for (const how of ["attic", "nix"] as const) {
      log(
        `${name}: CPU profile of garretd during a fresh ${how === "attic" ? "attic push" : "nix copy --to"}`,
      );
      const dir = await tempDir(`prof-ingest-${how}`);
      const r = await push(how, kind, opts, shared, dir);
      result.profiles[how] = {
        main: await readProfile(dir, r.skipMs).catch((err: unknown) => {
          log(`${name}: ${err instanceof Error ? err.message : String(err)}`);
          return null;
        }),
        workers: await readWorkerProfiles(dir),
      };
    }
  }
  return result;
}
