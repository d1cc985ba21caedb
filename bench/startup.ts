/**
 * `npm run bench:startup`: what starting garretd and the CLIs costs (issue 15's targets).
 *
 *   npm run bench:startup -- [--runs N] [--postgres-url URL]
 *
 * - exec → first HTTP answer: garretd (monolithic, Postgres + local storage, database migrated and
 *   reachable) spawned with `node apps/garretd/bin/garretd.js`, polled every 5 ms until any HTTP
 *   answer; target ≤ 0.4 s.
 * - idle RSS: that process's VmRSS 3 s after it answered one narinfo (a hit: the path was pushed
 *   before, by an earlier process); target ≤ 90 MB.
 * - `garret --help`, `garretadm --help` (and `garretd --help`) wall time; target ≤ 0.3 s.
 *
 * Medians (min–max) of --runs runs (default 5). Each run is a new process; nothing is warmed but the
 * OS page cache and Node's compile cache (both there on any restarted server; the first run after a
 * source change fills the latter). Beside wall time, the CPU time (user + system) each took: on a
 * shared, loaded machine wall time mostly measures the neighbours.
 */
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { formatNarInfo, toNixBase32 } from "@garret/nix";
import { narOfFile } from "../test/support/nar.ts";
import { installSignalHandlers, runCleanups, spawnTracked } from "./cleanup.ts";
import { createCache, type GarretdHandle, startGarretd } from "./garretd.ts";
import { freePort, waitForHttp } from "./ports.ts";

const bin = (path: string) => fileURLToPath(new URL(`../apps/${path}`, import.meta.url));
const CLIS = [
  ["garret --help", bin("garret/bin/garret.js")],
  ["garretadm --help", bin("garretd/bin/garretadm.js")],
  ["garretd --help", bin("garretd/bin/garretd.js")],
] as const;
const IDLE_SETTLE_MS = 3000;
const MB = 1e6;

interface Spread {
  median: number;
  min: number;
  max: number;
}

function spread(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    median: sorted[Math.floor(sorted.length / 2)] as number,
    min: sorted[0] as number,
    max: sorted[sorted.length - 1] as number,
  };
}

/** user + system CPU seconds of a running process (Linux clock ticks: 100 per second). */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function vmRssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]) * 1024;
}

const nix32 = (data: Uint8Array) => toNixBase32(createHash("sha256").update(data).digest());

/** Pushes one store path the way `nix copy --to` does; returns its hash part. */
async function pushOnePath(g: GarretdHandle, cache: string): Promise<string> {
  const nar = narOfFile(randomBytes(100_000));
  const hash = toNixBase32(randomBytes(20)).slice(0, 32);
  const fileHash = nix32(nar);
  const put = async (path: string, body: Uint8Array | string, type: string) => {
    const res = await fetch(`${g.url}/${cache}/${path}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${g.rootToken}`, "content-type": type },
      body,
    });
    if (!res.ok) throw new Error(`PUT ${path}: HTTP ${res.status} ${await res.text()}`);
  };
  await put(`nar/${fileHash}.nar`, nar, "application/x-nix-nar");
  const narinfo = formatNarInfo({
    storePath: `/nix/store/${hash}-startup-bench`,
    url: `nar/${fileHash}.nar`,
    compression: "none",
    fileHash: `sha256:${fileHash}`,
    fileSize: nar.length,
    narHash: `sha256:${fileHash}`,
    narSize: nar.length,
    references: [],
    sigs: [],
  });
  await put(`${hash}.narinfo`, narinfo, "text/x-nix-narinfo");
  return hash;
}

async function measureServerStart(
  g: GarretdHandle,
  cache: string,
  hash: string,
): Promise<{ firstAnswerS: number; firstAnswerCpuS: number; idleRssBytes: number }> {
  const port = await freePort();
  let output = "";
  const started = performance.now();
  const { child, stop } = spawnTracked(
    process.execPath,
    [bin("garretd/bin/garretd.js"), "-f", g.configPath, "--listen", `127.0.0.1:${port}`],
    { env: g.env },
  );
  try {
    child.stdout?.on("data", (b: Buffer) => {
      output = (output + b.toString()).slice(-20_000);
    });
    child.stderr?.on("data", (b: Buffer) => {
      output = (output + b.toString()).slice(-20_000);
    });
    await waitForHttp(`http://127.0.0.1:${port}/healthz`, child, () => output, 60_000, 5);
    const firstAnswerS = (performance.now() - started) / 1000;
    const firstAnswerCpuS = await cpuSeconds(child.pid as number);
    const res = await fetch(`http://127.0.0.1:${port}/${cache}/${hash}.narinfo`);
    if (res.status !== 200) throw new Error(`narinfo: HTTP ${res.status} ${await res.text()}`);
    await res.text();
    await new Promise((r) => setTimeout(r, IDLE_SETTLE_MS));
    return { firstAnswerS, firstAnswerCpuS, idleRssBytes: await vmRssBytes(child.pid as number) };
  } finally {
    await stop();
  }
}

/** Wall and CPU seconds of `node PATH --help`; the shell's `times` reports the child's CPU time. */
function timeCli(path: string): Promise<{ wallS: number; cpuS: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn("sh", ["-c", '"$0" "$1" --help >/dev/null && times', process.execPath, path], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (b: Buffer) => {
      out += b.toString();
    });
    child.stderr.on("data", (b: Buffer) => {
      out += b.toString();
    });
    child.once("error", reject);
    child.once("exit", (code) => {
      const wallS = (performance.now() - started) / 1000;
      // Second line of `times`: the children's user and system time, e.g. "0m0.061s 0m0.012s".
      const children = out.trim().split("\n")[1] ?? "";
      const seconds = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
      if (code === 0 && seconds.length === 2) resolve({ wallS, cpuS: (seconds[0] ?? 0) + (seconds[1] ?? 0) });
      else reject(new Error(`${path} --help failed (${code}): ${out}`));
    });
  });
}

const show = (s: Spread, unit: string, digits: number) =>
  `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)}) ${unit}`;
const row = (
  name: string,
  s: Spread,
  cpu: Spread | null,
  unit: string,
  digits: number,
  target: string,
  ok: boolean,
) =>
  `| ${name} | ${show(s, unit, digits)} | ${cpu ? show(cpu, "s", 3) : ""} | ${target} | ${ok ? "ok" : "MISS"} |`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: "string", default: "5" },
      "postgres-url": { type: "string", default: "postgres://postgres@127.0.0.1:5432/postgres" },
    },
  });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new Error("--runs must be a positive integer");

  const g = await startGarretd({ db: "postgres", storage: "local", postgresUrl: values["postgres-url"] });
  const cache = "startup";
  await createCache(g, cache);
  const hash = await pushOnePath(g, cache);
  await g.stop();

  const firstAnswer: number[] = [];
  const firstAnswerCpu: number[] = [];
  const idleRss: number[] = [];
  const cli = new Map<string, { wall: number[]; cpu: number[] }>(
    CLIS.map(([name]) => [name, { wall: [], cpu: [] }]),
  );
  for (let i = 0; i < runs; i++) {
    const server = await measureServerStart(g, cache, hash);
    firstAnswer.push(server.firstAnswerS);
    firstAnswerCpu.push(server.firstAnswerCpuS);
    idleRss.push(server.idleRssBytes / MB);
    for (const [name, path] of CLIS) {
      const t = await timeCli(path);
      cli.get(name)?.wall.push(t.wallS);
      cli.get(name)?.cpu.push(t.cpuS);
    }
    process.stderr.write(`[startup] run ${i + 1}/${runs}\n`);
  }
  await g.destroy();

  const first = spread(firstAnswer);
  const rss = spread(idleRss);
  const lines = [
    `garretd start and CLI --help, Node ${process.version}, ${runs} runs: median (min–max)`,
    "",
    "| measure | value | CPU time (user + sys) | target | |",
    "| --- | --- | --- | --- | --- |",
    row(
      "exec → first HTTP answer, Postgres + local",
      first,
      spread(firstAnswerCpu),
      "s",
      3,
      "≤ 0.4 s",
      first.median <= 0.4,
    ),
    row(
      `idle RSS after start + one narinfo (+${IDLE_SETTLE_MS / 1000} s)`,
      rss,
      null,
      "MB",
      1,
      "≤ 90 MB",
      rss.median <= 90,
    ),
  ];
  for (const [name, times] of cli) {
    const s = spread(times.wall);
    lines.push(row(`\`${name}\` wall time`, s, spread(times.cpu), "s", 3, "≤ 0.3 s", s.median <= 0.3));
  }
  process.stdout.write(`${lines.join("\n")}\n`);
}

installSignalHandlers();
try {
  await main();
} finally {
  await runCleanups();
}
