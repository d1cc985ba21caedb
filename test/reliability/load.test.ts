/**
 * Bounded load on loopback against the real process: many concurrent narinfo lookups and NAR
 * downloads (each verified) while uploads run. No errors, resident memory flat after warm-up,
 * latency percentiles reported. CI runs 20 s; `GARRET_LOAD_SECONDS=300` gives the longer run
 * quoted in docs/reliability.md. Figures are printed as one `LOAD_RESULT {...}` line.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type GarretdHandle, startGarretd } from "../support/garretd.ts";
import { postgresTestUrl } from "../support/postgres.ts";
import { createCache, makePath, pool, putPath, servedState, type TestPath } from "./support.ts";

const SECONDS = Number(process.env.GARRET_LOAD_SECONDS ?? 20);
const LOOKUP_CLIENTS = 32;
const DOWNLOAD_CLIENTS = 8;
const UPLOAD_CLIENTS = 2;
const db = postgresTestUrl() ? "postgres" : "sqlite";

function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

describe(`load for ${SECONDS} s (${db} + local storage)`, () => {
  let g: GarretdHandle;
  const corpus: TestPath[] = [];
  beforeAll(async () => {
    g = await startGarretd({ db, storage: "local" });
    await createCache(g.url, g.rootToken, "load");
    for (let i = 0; i < 40; i++)
      corpus.push(makePath(`load-${i}`, 50_000 + ((i * 37_123) % 900_000), 4000 + i));
    const statuses = await pool(corpus, 4, (p) => putPath(g.url, g.rootToken, "load", p));
    expect(statuses).toEqual(corpus.map(() => 200));
  });
  afterAll(() => g?.stop());

  it(
    "serves lookups and downloads while uploads run: no errors, flat memory",
    async () => {
      const pid = g.pid as number;
      const deadline = Date.now() + SECONDS * 1000;
      const lookups: number[] = [];
      const downloads: number[] = [];
      const uploads: number[] = [];
      const errors: string[] = [];
      const rss: number[] = [];
      let seq = 0;
      const sampler = setInterval(() => rss.push(rssOf(pid)), 1000);

      const lookupClient = async (k: number) => {
        for (let i = k; Date.now() < deadline; i += LOOKUP_CLIENTS) {
          const p = corpus[i % corpus.length] as TestPath;
          const started = performance.now();
          // One in four asks for a path that is not there, as substituters do.
          const hash = i % 4 === 0 ? `${p.hash.slice(0, 31)}${p.hash[31] === "0" ? "1" : "0"}` : p.hash;
          const res = await fetch(`${g.url}/load/${hash}.narinfo`);
          await res.arrayBuffer();
          lookups.push(performance.now() - started);
          if (res.status !== 200 && res.status !== 404) errors.push(`narinfo ${res.status}`);
        }
      };
      const downloadClient = async (k: number) => {
        for (let i = k; Date.now() < deadline; i += DOWNLOAD_CLIENTS) {
          const p = corpus[i % corpus.length] as TestPath;
          const started = performance.now();
          const state = await servedState(g.url, "load", p);
          downloads.push(performance.now() - started);
          if (state !== "ok") errors.push(`download: ${state}`);
        }
      };
      const uploadClient = async () => {
        while (Date.now() < deadline) {
          const p = makePath(`load-up-${seq}`, 400_000, 9000 + seq++);
          const started = performance.now();
          const status = await putPath(g.url, g.rootToken, "load", p);
          uploads.push(performance.now() - started);
          if (status !== 200) errors.push(`upload ${status}`);
        }
      };
      try {
        await Promise.all([
          ...Array.from({ length: LOOKUP_CLIENTS }, (_, k) => lookupClient(k)),
          ...Array.from({ length: DOWNLOAD_CLIENTS }, (_, k) => downloadClient(k)),
          ...Array.from({ length: UPLOAD_CLIENTS }, () => uploadClient()),
        ]);
      } finally {
        clearInterval(sampler);
      }
      const ms = (xs: number[]) => {
        const s = [...xs].sort((a, b) => a - b);
        return { count: s.length, p50: +percentile(s, 0.5).toFixed(1), p99: +percentile(s, 0.99).toFixed(1) };
      };
      // Memory after warm-up: the second half of the run may not grow past the first half's peak by much.
      const half = Math.floor(rss.length / 2);
      const firstPeak = Math.max(...rss.slice(0, Math.max(1, half)));
      const secondPeak = Math.max(...rss.slice(half));
      const result = {
        seconds: SECONDS,
        db,
        clients: { lookup: LOOKUP_CLIENTS, download: DOWNLOAD_CLIENTS, upload: UPLOAD_CLIENTS },
        narinfo: { ...ms(lookups), perSecond: Math.round(lookups.length / SECONDS) },
        nar: { ...ms(downloads), perSecond: +(downloads.length / SECONDS).toFixed(1) },
        upload: ms(uploads),
        rssMiB: {
          min: Math.round(Math.min(...rss) / 2 ** 20),
          firstHalfPeak: Math.round(firstPeak / 2 ** 20),
          secondHalfPeak: Math.round(secondPeak / 2 ** 20),
        },
        errors: errors.length,
      };
      process.stdout.write(`LOAD_RESULT ${JSON.stringify(result)}\n`);
      expect(errors.slice(0, 5)).toEqual([]);
      expect(lookups.length).toBeGreaterThan(SECONDS * 50);
      expect(downloads.length).toBeGreaterThan(SECONDS);
      expect(uploads.length).toBeGreaterThan(0);
      expect(secondPeak).toBeLessThan(firstPeak * 1.5 + 64 * 2 ** 20);
    },
    SECONDS * 1000 + 60_000,
  );
});
