/**
 * How lookup cost grows with the database: the queries behind a narinfo lookup, a NAR download
 * and get-missing-paths, timed on synthetic databases of increasing size (synthetic-store.ts).
 * These statements are the only part of those requests whose cost depends on the number of
 * objects (the in-memory memos are bounded), so flat figures here mean flat request latency.
 *
 *     node bench/scaling.ts [--sizes 1000,100000,1000000] [--lookups 2000] [--postgres-url URL]
 *
 * Per size: `--lookups` point lookups of random existing objects (object + NAR row: an uncached
 * narinfo; then the NAR's chunk list: an uncached download), the same number of lookups of absent
 * hashes, and get-missing-paths with 10,000 hashes (half present) five times. One connection,
 * sequential, prepared statements as garretd runs them.
 */
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { createDb, findChunksForDownload, findObjectWithNar, getMissingPaths, migrate } from "@garret/db";
import { installSignalHandlers, runCleanups } from "./cleanup.ts";
import { createDatabase } from "./postgres.ts";
import { percentile } from "./stats.ts";
import { buildSyntheticStore } from "./synthetic-store.ts";

const { values } = parseArgs({
  options: {
    sizes: { type: "string", default: "1000,100000,1000000" },
    lookups: { type: "string", default: "2000" },
    "postgres-url": { type: "string", default: "postgres://postgres@127.0.0.1:5432/postgres" },
  },
});
const SIZES = (values.sizes as string).split(",").map(Number);
const LOOKUPS = Number(values.lookups);
const NIX32 = "0123456789abcdfghijklmnpqrsvwxyz";

async function timed(n: number, run: (i: number) => Promise<unknown>): Promise<{ p50: number; p99: number }> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    await run(i);
    ms.push(performance.now() - start);
  }
  ms.sort((a, b) => a - b);
  return { p50: percentile(ms, 50), p99: percentile(ms, 99) };
}

async function measure(objects: number): Promise<string> {
  const database = await createDatabase(values["postgres-url"] as string);
  const db = await createDb({
    kind: "postgres",
    url: database.url,
    poolSize: 1,
    statementTimeoutMs: 3_600_000,
  });
  try {
    await migrate(db);
    const built = performance.now();
    await buildSyntheticStore(db, { objects, garbageEvery: 100, lastGcRunADayAgo: true });
    const buildS = ((performance.now() - built) / 1000).toFixed(1);
    const sample = await db.query<{ cache_id: number; store_path_hash: string; nar_id: number }>(
      `SELECT cache_id, store_path_hash, nar_id FROM object
       WHERE id = ANY(SELECT 1 + floor(random() * $1)::bigint FROM generate_series(1, $2))`,
      [objects, LOOKUPS],
    );
    const absent = Array.from({ length: LOOKUPS }, () =>
      Array.from(randomBytes(32), (b) => NIX32[b % 32]).join(""),
    );
    // Warm the connection's prepared statements and the buffer cache's upper index levels.
    for (const row of sample.slice(0, 50)) await findObjectWithNar(db, row.cache_id, row.store_path_hash);

    const hit = await timed(sample.length, (i) => {
      const row = sample[i % sample.length] as (typeof sample)[number];
      return findObjectWithNar(db, row.cache_id, row.store_path_hash);
    });
    const chunks = await timed(sample.length, (i) =>
      findChunksForDownload(db, (sample[i % sample.length] as (typeof sample)[number]).nar_id),
    );
    const miss = await timed(absent.length, (i) => findObjectWithNar(db, 1, absent[i] as string));
    const cache1 = sample.filter((r) => r.cache_id === 1).map((r) => r.store_path_hash);
    const missingRequest = [...cache1, ...absent].slice(0, 10_000);
    while (missingRequest.length < 10_000)
      missingRequest.push(...absent.slice(0, 10_000 - missingRequest.length));
    const missing = await timed(5, () => getMissingPaths(db, 1, missingRequest));
    const f = (x: { p50: number; p99: number }) => `${x.p50.toFixed(3)} / ${x.p99.toFixed(3)}`;
    return `| ${objects.toLocaleString("en")} | ${buildS} s | ${f(hit)} | ${f(miss)} | ${f(chunks)} | ${missing.p50.toFixed(1)} |`;
  } finally {
    await db.close();
    await database.drop();
  }
}

async function main(): Promise<void> {
  installSignalHandlers();
  const rows: string[] = [];
  for (const size of SIZES) {
    process.stderr.write(`${size.toLocaleString("en")} objects ...\n`);
    rows.push(await measure(size));
  }
  process.stdout.write(
    `Lookup statements by database size (ms, p50 / p99 of ${LOOKUPS} sequential lookups; one connection)\n\n` +
      "| objects | build | object + NAR (narinfo, hit) | object + NAR (absent hash) | chunk list (download) | get-missing-paths, 10,000 hashes (p50 of 5) |\n" +
      "| --- | --- | --- | --- | --- | --- |\n" +
      `${rows.join("\n")}\n`,
  );
}

try {
  await main();
} finally {
  await runCleanups();
}
