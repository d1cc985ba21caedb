/**
 * `npm run bench`: garret against nginx serving the same closure as plain files, with
 * cache-shootout's read metrics plus issue 8's upload, memory and latency-under-load rows.
 * See bench/README.md for the method and what each number means; `--help` for the options.
 *
 * Steps: install nix-bin / nginx / zstd if missing → for each corpus (closure-shaped, mixed): build
 * it with real Nix → `nix copy --to file://DIR?compression=zstd` → nginx serves DIR → for each
 * configuration (embedded, postgres, s3) the measurements in config-run.ts → tables on stdout,
 * JSON in bench/results/.
 */

import { mkdir, readdir, stat, writeFile } from "node:fs/promises";
import { cpus, freemem, release, totalmem } from "node:os";
import { join } from "node:path";
import { dumpNarsTo, dumpToFile } from "./baseline.ts";
import { installSignalHandlers, runCleanups, tempDir } from "./cleanup.ts";
import { runConfig } from "./config-run.ts";
import { buildCorpus, type CorpusShape } from "./corpus.ts";
import { aptInstall, commandWorks } from "./exec.ts";
import { ensureNginx, nginxVersion, startNginx } from "./nginx.ts";
import { copyToFileCache, ensureNix, nix, type PathInfo } from "./nix.ts";
import { type BenchOptions, parseBenchOptions, USAGE } from "./options.ts";
import { discoverNars } from "./read-bench.ts";
import { type BenchResult, type ConfigResult, type CorpusResult, renderReport } from "./report.ts";
import { MiB } from "./stats.ts";

const t0 = performance.now();
function log(msg: string): void {
  const s = ((performance.now() - t0) / 1000).toFixed(0).padStart(4);
  process.stderr.write(`[bench ${s}s] ${msg}\n`);
}

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const full = join(dir, e.name);
    if (e.isDirectory()) total += await dirBytes(full);
    else if (e.isFile()) total += (await stat(full)).size;
  }
  return total;
}

async function ensureTools(): Promise<void> {
  await ensureNix();
  await ensureNginx();
  if (!(await commandWorks("zstd"))) await aptInstall(["zstd"]);
  if (!(await commandWorks("sha256sum"))) throw new Error("sha256sum (coreutils) is missing");
}

async function run(opts: BenchOptions): Promise<BenchResult> {
  const startedAt = new Date().toISOString();
  log(`options: ${JSON.stringify(opts)}`);
  const needGiB = (opts.corpusMiB * 2.5 + opts.bigMiB * (opts.bigReps + 8) * 1.5) / 1024;
  log(
    `expect roughly ${needGiB.toFixed(1)} GiB of disk in /nix/store and ${process.env.TMPDIR ?? "/tmp"}; ${(freemem() / 2 ** 30).toFixed(1)} GiB RAM free`,
  );
  await ensureTools();

  const corpora: CorpusResult[] = [];
  for (const shape of opts.corpora) corpora.push(await runCorpus(shape, opts));
  return {
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? "unknown",
      memGiB: Math.round(totalmem() / 2 ** 30),
      kernel: release(),
      node: process.version,
      nix: (await nix("nix", ["--version"])).trim(),
      nginx: await nginxVersion(),
    },
    options: { ...opts },
    corpora,
  };
}

/** `nix copy --to file://…?compression=zstd` of the corpus, served by nginx. */
async function serveWithNginx(paths: PathInfo[], hashes: string[]) {
  const fileCache = await tempDir("file-cache");
  log("nix copy --to file://…?compression=zstd");
  await copyToFileCache(
    fileCache,
    paths.map((p) => p.path),
  );
  const wireMiB = (await dirBytes(join(fileCache, "nar"))) / MiB;
  const server = await startNginx(fileCache);
  log(`nginx serves the file cache at ${server.url} (${wireMiB.toFixed(0)} MiB of .nar.zst)`);
  const target = { name: "nginx", base: server.url };
  const nars = await discoverNars(target, hashes);
  return { target, nars, wireMiB, stop: () => server.stop() };
}

/** Builds one corpus, serves it with nginx, and runs every configuration against it. */
async function runCorpus(shape: CorpusShape, opts: BenchOptions): Promise<CorpusResult> {
  const work = await tempDir("work");
  const buildStarted = performance.now();
  const corpus = await buildCorpus(
    {
      shape,
      totalBytes: opts.corpusMiB * MiB,
      paths: shape === "closure" ? opts.closurePaths : opts.paths,
      bigBytes: opts.bigMiB * MiB,
      bigCount: opts.bigReps + 8,
      workDir: work,
    },
    log,
  );
  const buildSeconds = (performance.now() - buildStarted) / 1000;
  const sizes = corpus.paths.map((p) => p.narSize).sort((x, y) => x - y);
  const medianKiB = (sizes[Math.floor(sizes.length / 2)] ?? 0) / 1024;
  log(
    `${shape} corpus: ${corpus.paths.length} paths, ${(corpus.narBytes / MiB).toFixed(0)} MiB of NAR, median ${medianKiB.toFixed(0)} KiB (built in ${buildSeconds.toFixed(0)} s)`,
  );

  const hashes = corpus.paths.map((p) => p.path.slice(11, 43));
  // --only-load and --ingest-only measure no read row: nothing is served by nginx.
  const nginx = opts.onlyLoad || opts.ingestOnly ? null : await serveWithNginx(corpus.paths, hashes);

  const narDir = await tempDir("nars");
  const corpusNarFile = join(await tempDir("corpus-nar"), "corpus.nars");
  log("dumping every corpus NAR to a file (pushes read them from there)");
  const corpusNarBytes = await dumpNarsTo(narDir, corpus.paths, corpusNarFile);

  const baselineDir = await tempDir("baseline");
  const baselineFile = join(baselineDir, "big.nar");
  const firstBig = corpus.bigs[0];
  if (!firstBig) throw new Error("no big path was built");
  const baselineBytes = opts.onlyLoad || opts.ingestOnly ? 0 : await dumpToFile(firstBig.path, baselineFile);

  const configs: ConfigResult[] = [];
  const failures: Array<{ config: string; error: string }> = [];
  for (const name of opts.configs) {
    // A configuration that fails is reported and the others still run.
    try {
      configs.push(
        await runConfig(
          name,
          opts,
          {
            corpus: corpus.paths,
            bigs: corpus.bigs,
            baselineFile,
            baselineBytes,
            nginx: nginx?.target ?? { name: "nginx", base: "" },
            nginxNars: nginx?.nars ?? [],
            narDir,
            corpusNarFile,
            corpusNarBytes,
          },
          log,
        ),
      );
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      log(`${shape} / ${name}: FAILED: ${error}`);
      failures.push({ config: name, error });
    }
  }
  await nginx?.stop();
  return {
    shape,
    corpus: {
      paths: corpus.paths.length,
      narMiB: corpus.narBytes / MiB,
      medianNarKiB: medianKiB,
      nginxWireMiB: nginx?.wireMiB ?? 0,
      bigs: corpus.bigs.length,
      bigMiB: opts.bigMiB,
      buildSeconds,
    },
    configs,
    failures,
  };
}

async function main(): Promise<number> {
  let opts: BenchOptions;
  try {
    opts = parseBenchOptions(process.argv.slice(2), process.env);
  } catch (err) {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n\n${USAGE}\n`);
    return 2;
  }
  if (opts.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  installSignalHandlers();
  try {
    const result = await run(opts);
    await mkdir(opts.resultsDir, { recursive: true });
    const file = join(opts.resultsDir, `${result.startedAt.replace(/[:.]/g, "-")}.json`);
    await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`${renderReport(result)}\n`);
    log(`results written to ${file}`);
    return result.corpora.every((c) => c.failures.length === 0) ? 0 : 1;
  } catch (err) {
    process.stderr.write(
      `bench: FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    return 1;
  } finally {
    log("cleaning up");
    await runCleanups();
  }
}

process.exit(await main());
