/**
 * `npm run bench:read`: only the read rows of `npm run bench` (narinfo pass, NARs with 1/4/16
 * workers, garret and nginx interleaved in every repetition) on the closure-shaped corpus, for
 * iterating on the serve path in minutes instead of the full run's big uploads and load windows.
 * Beside wall-time ratios it reports CPU time per lookup and per NAR-GiB of each server (garretd
 * with its threads; nginx's master and workers, from /proc), which moves much less than wall time
 * when neighbours load the machine.
 * With `--cpu-prof`, garretd is restarted under `node --cpu-prof` afterwards and the download and
 * narinfo passes are profiled (summaries on stdout, the .cpuprofile files kept in the printed dir).
 *
 *   npm run bench:read -- --configs embedded,postgres --reps 5 [--paths 150] [--cpu-prof]
 */

import { readFileSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { installSignalHandlers, runCleanups, tempDir } from "./cleanup.ts";
import { hashOf } from "./config-run.ts";
import { buildCorpus } from "./corpus.ts";
import { createCache, startGarretd } from "./garretd.ts";
import { startNginx } from "./nginx.ts";
import { copyToFileCache, ensureNix } from "./nix.ts";
import { type CpuProfile, summariseProfile } from "./profile-summary.ts";
import { type CacheTarget, discoverNars, downloadPass, type NarEntry, narinfoPass } from "./read-bench.ts";
import { renderProfile } from "./report.ts";
import { MiB, median, mibPerSecond } from "./stats.ts";

const WORKERS = [1, 4, 16] as const;
const REPO_ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

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

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      configs: { type: "string", default: "embedded" },
      reps: { type: "string", default: "5" },
      paths: { type: "string", default: "150" },
      "cpu-prof": { type: "boolean", default: false },
    },
  });
  const reps = Number(values.reps);
  await ensureNix();
  const work = await tempDir("read-work");
  const corpus = await buildCorpus(
    {
      shape: "closure",
      totalBytes: 0,
      paths: Number(values.paths),
      bigBytes: MiB,
      bigCount: 0,
      workDir: work,
    },
    log,
  );
  const sizes = corpus.paths.map((p) => p.narSize).sort((a, b) => a - b);
  log(
    `closure corpus: ${corpus.paths.length} paths, ${(corpus.narBytes / MiB).toFixed(0)} MiB, median ${((sizes[sizes.length >> 1] ?? 0) / 1024).toFixed(0)} KiB`,
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
    await downloadPass(garret, garretNars, 4);
    await downloadPass(nginx, nginxNars, 4);
    const samples = { narinfo: [] as number[][], dl: WORKERS.map(() => [] as number[][]) };
    // CPU ms of [garret, nginx]: all narinfo passes; all NAR passes (and the NAR bytes they carried).
    const cpu = {
      narinfo: [0, 0] as [number, number],
      lookups: 0,
      nar: [0, 0] as [number, number],
      narBytes: 0,
    };
    const pidOf = (t: CacheTarget) => (t === garret ? g.pid : nginxServer.pid);
    const timed = async <T>(t: CacheTarget, kind: "narinfo" | "nar", run: () => Promise<T>): Promise<T> => {
      const before = cpuMs(pidOf(t));
      const out = await run();
      (kind === "narinfo" ? cpu.narinfo : cpu.nar)[t === garret ? 0 : 1] += cpuMs(pidOf(t)) - before;
      return out;
    };
    for (let rep = 0; rep < reps; rep++) {
      const order = rep % 2 === 0 ? [garret, nginx] : [nginx, garret];
      const ni: number[] = [0, 0];
      let lookups = 0;
      for (const t of order) {
        const pass = await timed(t, "narinfo", () => narinfoPass(t, hashes));
        ni[t === garret ? 0 : 1] = pass.perLookupMs;
        lookups = pass.lookups;
      }
      cpu.lookups += lookups;
      samples.narinfo.push(ni);
      for (const [i, w] of WORKERS.entries()) {
        const d: number[] = [0, 0];
        for (const t of order) {
          const nars: NarEntry[] = t === garret ? garretNars : nginxNars;
          const r = await timed(t, "nar", () => downloadPass(t, nars, w));
          if (t === garret) cpu.narBytes += r.narBytes;
          d[t === garret ? 0 : 1] = mibPerSecond(r.narBytes, r.ms);
        }
        samples.dl[i]?.push(d);
      }
    }
    const ratio = (s: number[][]) => median(s.map(([a, b]) => (a as number) / (b as number)));
    const abs = (s: number[][], k: number) => median(s.map((x) => x[k] as number));
    process.stdout.write(`\n${config} (closure, ${corpus.paths.length} paths, ${reps} reps, medians)\n`);
    process.stdout.write(
      `narinfo ms/lookup: garret ${abs(samples.narinfo, 0).toFixed(3)} nginx ${abs(samples.narinfo, 1).toFixed(3)} ratio ${ratio(samples.narinfo).toFixed(2)}x\n`,
    );
    for (const [i, w] of WORKERS.entries()) {
      const s = samples.dl[i] as number[][];
      process.stdout.write(
        `NAR ${w} conn NAR-MiB/s: garret ${abs(s, 0).toFixed(0)} nginx ${abs(s, 1).toFixed(0)} ratio ${ratio(s).toFixed(2)}x\n`,
      );
    }
    const [gNi, nNi] = cpu.narinfo;
    const [gNar, nNar] = cpu.nar;
    const gib = cpu.narBytes / 2 ** 30;
    process.stdout.write(
      `CPU per narinfo lookup (ms): garret ${(gNi / cpu.lookups).toFixed(3)} nginx ${(nNi / cpu.lookups).toFixed(3)} ratio ${(gNi / nNi).toFixed(2)}x\n`,
    );
    process.stdout.write(
      `CPU per NAR-GiB, all NAR passes (s): garret ${(gNar / 1000 / gib).toFixed(2)} nginx ${(nNar / 1000 / gib).toFixed(2)} ratio ${(gNar / nNar).toFixed(2)}x\n`,
    );
    if (values["cpu-prof"]) {
      for (const workload of ["download", "narinfo"] as const) {
        const dir = await tempDir(`read-prof-${workload}`);
        const launched = performance.now();
        await g.restart({ cpuProfDir: dir });
        // The restarted process listens on a new port.
        const target: CacheTarget = { name: "garret", base: `${g.url}/bench` };
        const nars = await discoverNars(target, hashes);
        if (workload === "download") await downloadPass(target, nars, 4);
        const skipMs = performance.now() - launched;
        const until = performance.now() + 8000;
        for (let i = 0; performance.now() < until || i < 2; i++) {
          if (workload === "narinfo") await narinfoPass(target, hashes);
          else await downloadPass(target, nars, i % 2 === 0 ? 1 : 16);
        }
        await g.stop();
        const [file] = (await readdir(dir)).filter((f) => f.endsWith(".cpuprofile"));
        if (!file) throw new Error(`no profile in ${dir}`);
        const profile = JSON.parse(await readFile(join(dir, file), "utf8")) as CpuProfile;
        const summary = summariseProfile(profile, { skipMs, repoRoot: REPO_ROOT, top: 25 });
        process.stdout.write(
          `${renderProfile(summary, `${config}: ${workload} profile (${join(dir, file)})`)}\n`,
        );
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
