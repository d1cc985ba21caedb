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
import { installSignalHandlers, runCleanups, spawnTracked, tempDir } from "./cleanup.ts";
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

/**
 * The embedded configuration as a new user meets it: garretd with no configuration in an empty
 * HOME (first start: writes server.toml with a new 4096-bit RS256 key, creates the SQLite database;
 * nothing in the HOME's compile cache, only what `npm ci` put in the installation's), then a
 * restart on the same HOME. Each: exec → first HTTP
 * answer, and VmRSS 3 s after one narinfo request (a miss: there is no cache yet).
 */
async function measureEmbeddedStarts(): Promise<
  Array<{ firstAnswerS: number; firstAnswerCpuS: number; idleRssBytes: number }>
> {
  const home = await tempDir("startup-home");
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
  for (const key of [
    "XDG_CONFIG_HOME",
    "XDG_CACHE_HOME",
    "XDG_DATA_HOME",
    "GARRET_DATA_DIR",
    "NODE_COMPILE_CACHE",
  ])
    delete env[key];
  const out = [];
  for (let i = 0; i < 2; i++) {
    const port = await freePort();
    let output = "";
    const started = performance.now();
    const { child, stop } = spawnTracked(
      process.execPath,
      [bin("garretd/bin/garretd.js"), "--listen", `127.0.0.1:${port}`],
      { env },
    );
    try {
      const keep = (b: Buffer) => {
        output = (output + b.toString()).slice(-20_000);
      };
      child.stdout?.on("data", keep);
      child.stderr?.on("data", keep);
      await waitForHttp(`http://127.0.0.1:${port}/healthz`, child, () => output, 60_000, 5);
      const firstAnswerS = (performance.now() - started) / 1000;
      const firstAnswerCpuS = await cpuSeconds(child.pid as number);
      const res = await fetch(`http://127.0.0.1:${port}/none/00000000000000000000000000000000.narinfo`);
      await res.text();
      await new Promise((r) => setTimeout(r, IDLE_SETTLE_MS));
      out.push({ firstAnswerS, firstAnswerCpuS, idleRssBytes: await vmRssBytes(child.pid as number) });
    } finally {
      await stop();
    }
  }
  return out;
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
  const embedded = [0, 1].map(() => ({ wall: [] as number[], cpu: [] as number[], rss: [] as number[] }));
  const cli = new Map<string, { wall: number[]; cpu: number[] }>(
    CLIS.map(([name]) => [name, { wall: [], cpu: [] }]),
  );
  for (let i = 0; i < runs; i++) {
    for (const [k, start] of (await measureEmbeddedStarts()).entries()) {
      embedded[k]?.wall.push(start.firstAnswerS);
      embedded[k]?.cpu.push(start.firstAnswerCpuS);
      embedded[k]?.rss.push(start.idleRssBytes / MB);
    }
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
  for (const [k, name] of ["first start", "restart"].entries()) {
    const e = embedded[k] as (typeof embedded)[number];
    const wall = spread(e.wall);
    const rssE = spread(e.rss);
    const wallTarget = k === 0 ? 1.5 : 0.5;
    lines.push(
      row(
        `embedded (SQLite), ${name}: exec → first HTTP answer`,
        wall,
        spread(e.cpu),
        "s",
        3,
        `≤ ${wallTarget} s`,
        wall.median <= wallTarget,
      ),
      row(
        `embedded, ${name}: idle RSS (+${IDLE_SETTLE_MS / 1000} s)`,
        rssE,
        null,
        "MB",
        1,
        "≤ 100 MB",
        rssE.median <= 100,
      ),
    );
  }
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
