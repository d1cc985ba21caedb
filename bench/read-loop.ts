/**
 * `npm run bench:read`: only the read rows of `npm run bench` (narinfo pass, NARs with 1/4/16
 * workers, garret and nginx interleaved in every repetition) on one corpus of `npm run bench
 * --quick` (closure-shaped by default, or `--corpus mixed`), for iterating on the serve path in
 * minutes instead of the full run's big uploads and load windows.
 * Beside wall-time ratios it reports, for each connection count, CPU time per NAR and per NAR-GiB
 * of each server (garretd with its threads; nginx's master and workers, from /proc), which moves
 * much less than wall time when neighbours load the machine, and garretd's CPU split by thread
 * (main thread, read workers, libuv's pool, V8's helpers: thread-cpu.ts).
 * With `--cpu-prof`, garretd is restarted under `node --cpu-prof` afterwards and profiled for
 * `--prof-seconds` of download passes at each of `--prof-conns` connection counts, and of narinfo
 * passes (main thread and read workers summarised on stdout, the .cpuprofile files kept in the
 * printed dir).
 *
 *   npm run bench:read -- --configs embedded,postgres --reps 5 [--corpus mixed] [--paths 150]
 *                         [--cpu-prof [--prof-conns 1,4,16] [--prof-seconds 8]]
 */

import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { installSignalHandlers, runCleanups, tempDir } from "./cleanup.ts";
import { hashOf } from "./config-run.ts";
import { buildCorpus, type CorpusShape } from "./corpus.ts";
import { createCache, startGarretd } from "./garretd.ts";
import { startNginx } from "./nginx.ts";
import { copyToFileCache, ensureNix } from "./nix.ts";
import { CORPUS_SHAPES } from "./options.ts";
import { readProfile, readWorkerProfiles } from "./profile-files.ts";
import {
  type CacheTarget,
  discoverNars,
  downloadPass,
  type NarEntry,
  narinfoPass,
  warmUpDownloads,
} from "./read-bench.ts";
import { renderProfile } from "./report.ts";
import { MiB, median, mibPerSecond } from "./stats.ts";
import { addThreadCpu, renderThreadCpu, type ThreadCpu, threadCpu, threadCpuDelta } from "./thread-cpu.ts";

const WORKERS = [1, 4, 16] as const;
const TICK_MS = 10; // USER_HZ = 100 on Linux

/** CPU time (user + system, ms) of `pid` and, recursively, its child processes. */
function cpuMs(pid: number): number {
  let ms = 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    ms = (Number(fields[11]) + Number(fields[12])) * TICK_MS;
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim();
    for (const child of children ? children.split(" ") : []) ms += cpuMs(Number(child));
  } catch {
    // The process ended.
  }
  return ms;
}

function log(msg: string): void {
  process.stderr.write(`[bench:read] ${msg}\n`);
}

/** CPU of one server's NAR passes at one connection count. */
interface NarCpu {
  ms: [number, number];
  nars: number;
  bytes: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      configs: { type: "string", default: "embedded" },
      reps: { type: "string", default: "5" },
      corpus: { type: "string", default: "closure" },
      "corpus-mib": { type: "string", default: "100" },
      paths: { type: "string", default: "150" },
      "cpu-prof": { type: "boolean", default: false },
      "prof-conns": { type: "string", default: "1,16" },
      "prof-seconds": { type: "string", default: "8" },
    },
  });
  const reps = Number(values.reps);
  const shape = values.corpus as CorpusShape;
  if (!(CORPUS_SHAPES as readonly string[]).includes(shape)) {
    throw new Error(`--corpus: unknown corpus ${JSON.stringify(shape)} (known: ${CORPUS_SHAPES.join(", ")})`);
  }
  await ensureNix();
  const work = await tempDir("read-work");
  const corpus = await buildCorpus(
    {
      shape,
      totalBytes: Number(values["corpus-mib"]) * MiB,
      paths: Number(values.paths),
      bigBytes: MiB,
      bigCount: 0,
      workDir: work,
    },
    log,
  );
  const sizes = corpus.paths.map((p) => p.narSize).sort((a, b) => a - b);
  log(
    `${shape} corpus: ${corpus.paths.length} paths, ${(corpus.narBytes / MiB).toFixed(0)} MiB, median ${((sizes[sizes.length >> 1] ?? 0) / 1024).toFixed(0)} KiB`,
  );
  const fileCache = await tempDir("read-file-cache");
  await copyToFileCache(
    fileCache,
    corpus.paths.map((p) => p.path),
  );
  const nginxServer = await startNginx(fileCache);
  const nginx: CacheTarget = { name: "nginx", base: nginxServer.url };
  const hashes = corpus.paths.map(hashOf);
  const nginxNars = await discoverNars(nginx, hashes);
  const { uploadInChild } = await import("./upload-runner.ts");

  for (const config of (values.configs ?? "embedded").split(",")) {
    const g = await startGarretd({
      db: config === "postgres" ? "postgres" : "sqlite",
      storage: "local",
      postgresUrl: "postgres://postgres@127.0.0.1:5432/postgres",
    });
    await createCache(g, "bench");
    await uploadInChild({
      url: g.url,
      token: g.rootToken,
      cache: "bench",
      paths: corpus.paths,
      parallelism: 4,
    });
    const garret: CacheTarget = { name: "garret", base: `${g.url}/bench` };
    const garretNars = await discoverNars(garret, hashes);
    await warmUpDownloads(garret, garretNars);
    await warmUpDownloads(nginx, nginxNars);
    const samples = { narinfo: [] as number[][], dl: WORKERS.map(() => [] as number[][]) };
    // CPU ms of [garret, nginx] over all narinfo passes; per connection count, over its NAR passes.
    const narinfoCpu = { ms: [0, 0] as [number, number], lookups: 0 };
    const narCpu: NarCpu[] = WORKERS.map(() => ({ ms: [0, 0], nars: 0, bytes: 0 }));
    const garretThreads: ThreadCpu[] = WORKERS.map(() => new Map());
    const pidOf = (t: CacheTarget) => (t === garret ? g.pid : nginxServer.pid);
    const side = (t: CacheTarget) => (t === garret ? 0 : 1);
    for (let rep = 0; rep < reps; rep++) {
      const order = rep % 2 === 0 ? [garret, nginx] : [nginx, garret];
      const ni: number[] = [0, 0];
      for (const t of order) {
        const before = cpuMs(pidOf(t));
        const pass = await narinfoPass(t, hashes);
        narinfoCpu.ms[side(t)] += cpuMs(pidOf(t)) - before;
        ni[side(t)] = pass.perLookupMs;
        if (t === garret) narinfoCpu.lookups += pass.lookups;
      }
      samples.narinfo.push(ni);
      for (const [i, w] of WORKERS.entries()) {
        const d: number[] = [0, 0];
        const cpu = narCpu[i] as NarCpu;
        for (const t of order) {
          const nars: NarEntry[] = t === garret ? garretNars : nginxNars;
          const before = cpuMs(pidOf(t));
          const threadsBefore = t === garret ? threadCpu(g.pid) : undefined;
          const r = await downloadPass(t, nars, w);
          cpu.ms[side(t)] += cpuMs(pidOf(t)) - before;
          if (threadsBefore)
            addThreadCpu(garretThreads[i] as ThreadCpu, threadCpuDelta(threadsBefore, threadCpu(g.pid)));
          if (t === garret) {
            cpu.nars += nars.length;
            cpu.bytes += r.narBytes;
          }
          d[side(t)] = mibPerSecond(r.narBytes, r.ms);
        }
        samples.dl[i]?.push(d);
      }
    }
    const ratio = (s: number[][]) => median(s.map(([a, b]) => (a as number) / (b as number)));
    const abs = (s: number[][], k: number) => median(s.map((x) => x[k] as number));
    process.stdout.write(
      `\n${config} (${shape}, ${corpus.paths.length} paths, median NAR ${((sizes[sizes.length >> 1] ?? 0) / 1024).toFixed(0)} KiB, ${reps} reps, medians)\n`,
    );
    process.stdout.write(
      `narinfo ms/lookup: garret ${abs(samples.narinfo, 0).toFixed(3)} nginx ${abs(samples.narinfo, 1).toFixed(3)} ratio ${ratio(samples.narinfo).toFixed(2)}x\n`,
    );
    for (const [i, w] of WORKERS.entries()) {
      const s = samples.dl[i] as number[][];
      const cpu = narCpu[i] as NarCpu;
      const gib = cpu.bytes / 2 ** 30;
      const [gMs, nMs] = cpu.ms;
      process.stdout.write(
        `NAR ${w} conn NAR-MiB/s: garret ${abs(s, 0).toFixed(0)} nginx ${abs(s, 1).toFixed(0)} ratio ${ratio(s).toFixed(2)}x; ` +
          `CPU per NAR (ms) garret ${(gMs / cpu.nars).toFixed(3)} nginx ${(nMs / cpu.nars).toFixed(3)}; ` +
          `CPU per NAR-GiB (s) garret ${(gMs / 1000 / gib).toFixed(2)} nginx ${(nMs / 1000 / gib).toFixed(2)}\n`,
      );
      process.stdout.write(`  garretd threads: ${renderThreadCpu(garretThreads[i] as ThreadCpu)}\n`);
    }
    const [gNi, nNi] = narinfoCpu.ms;
    process.stdout.write(
      `CPU per narinfo lookup (ms): garret ${(gNi / narinfoCpu.lookups).toFixed(3)} nginx ${(nNi / narinfoCpu.lookups).toFixed(3)} ratio ${(gNi / nNi).toFixed(2)}x\n`,
    );
    if (values["cpu-prof"]) {
      const conns = (values["prof-conns"] ?? "")
        .split(",")
        .filter((c) => c.length > 0)
        .map(Number);
      const seconds = Number(values["prof-seconds"]);
      for (const workload of [...conns, "narinfo" as const]) {
        const dir = await tempDir(`read-prof-${workload}`);
        const launched = performance.now();
        await g.restart({ cpuProfDir: dir });
        // The restarted process listens on a new port.
        const target: CacheTarget = { name: "garret", base: `${g.url}/bench` };
        const nars = await discoverNars(target, hashes);
        if (workload !== "narinfo") await warmUpDownloads(target, nars);
        const skipMs = performance.now() - launched;
        const cpuBefore = cpuMs(g.pid);
        const until = performance.now() + seconds * 1000;
        let passes = 0;
        for (; performance.now() < until || passes < 2; passes++) {
          if (workload === "narinfo") await narinfoPass(target, hashes);
          else await downloadPass(target, nars, workload);
        }
        const cpu = cpuMs(g.pid) - cpuBefore;
        const wall = performance.now() - launched - skipMs;
        await g.stop();
        const title = `${config}, ${shape}: ${workload === "narinfo" ? "narinfo" : `NAR ${workload} conn`} profile (${dir})`;
        process.stdout.write(
          `\n${title}: ${passes} passes, garretd CPU ${cpu} ms in ${wall.toFixed(0)} ms wall${workload === "narinfo" ? "" : `, ${(cpu / (passes * nars.length)).toFixed(3)} ms per NAR`}\n`,
        );
        process.stdout.write(`${renderProfile(await readProfile(dir, skipMs), "main thread")}\n`);
        const workers = await readWorkerProfiles(dir);
        if (workers) process.stdout.write(`${renderProfile(workers, "worker threads, added up")}\n`);
      }
    }
    await g.destroy();
  }
  await nginxServer.stop();
}

installSignalHandlers();
try {
  await main();
} finally {
  await runCleanups();
}
