/**
 * GC benchmark: one collection over a Postgres database of 1,000,000 objects of which 1% are past
 * their cache's retention, built with set-based inserts (synthetic-store.ts), then timed.
 *
 *     node bench/gc.ts [--objects N] [--garbage-percent P] [--postgres-url URL]
 *
 * Shape: 10 caches (retention 30 days, closure-aware retention on), one NAR per object, each NAR
 * made of its own chunk plus one of 1,000 shared chunks (so 1,001,000 chunks and 2,000,000
 * chunkrefs), each object referencing three others of its cache (the expired ones are referenced
 * by nothing, so closure retention keeps none of them). A previous run is recorded a day ago, as in
 * a server whose collector runs on its interval; `--full-sweep` times the first-run sweep instead.
 * Chunk files do not exist on disk (local storage, ENOENT counts as deleted), so the figure is the
 * database work plus one unlink attempt per chunk.
 *
 * A database `garret_bench_<random>` is created on the server (default
 * postgres://postgres@127.0.0.1:5432/postgres) and dropped at the end; GARRET_BENCH_KEEP_DB=1 keeps
 * it (to EXPLAIN statements against it) and GARRET_BENCH_BUILD_ONLY=1 stops before collecting.
 */
import { parseArgs } from "node:util";
import { createDb, migrate } from "@garret/db";
import { createStorage } from "@garret/storage";
import { runGarbageCollection } from "../apps/garretd/src/gc/run-gc.ts";
import { silentLogger } from "../apps/garretd/src/log.ts";
import { installSignalHandlers, onCleanup, runCleanups, tempDir } from "./cleanup.ts";
import { createDatabase } from "./postgres.ts";
import { buildSyntheticStore } from "./synthetic-store.ts";

const { values } = parseArgs({
  options: {
    objects: { type: "string", default: "1000000" },
    "garbage-percent": { type: "string", default: "1" },
    "postgres-url": { type: "string", default: "postgres://postgres@127.0.0.1:5432/postgres" },
    "full-sweep": { type: "boolean", default: false },
  },
});
const OBJECTS = Number(values.objects);
const GARBAGE_EVERY = Math.round(100 / Number(values["garbage-percent"]));

function step(label: string): () => void {
  const start = performance.now();
  process.stderr.write(`${label} ... `);
  return () => process.stderr.write(`${((performance.now() - start) / 1000).toFixed(1)} s\n`);
}

async function main(): Promise<void> {
  installSignalHandlers();
  const database = await createDatabase(values["postgres-url"] as string);
  if (!process.env.GARRET_BENCH_KEEP_DB) onCleanup(database.drop);
  else process.stderr.write(`keeping ${database.url}\n`);
  const db = await createDb({
    kind: "postgres",
    url: database.url,
    poolSize: 2,
    statementTimeoutMs: 3_600_000,
  });
  onCleanup(() => db.close());
  await migrate(db);

  const done = step(`building ${OBJECTS.toLocaleString("en")} objects (${100 / GARBAGE_EVERY}% expired)`);
  await buildSyntheticStore(db, {
    objects: OBJECTS,
    garbageEvery: GARBAGE_EVERY,
    lastGcRunADayAgo: !values["full-sweep"],
  });
  done();

  if (process.env.GARRET_BENCH_BUILD_ONLY) return;
  const storage = await createStorage({ type: "local", path: await tempDir("gc") });
  const opts = { defaultRetentionSeconds: 0, pendingGraceSeconds: 6 * 3600, now: new Date() };
  const first = await runGarbageCollection(db, storage, silentLogger(), opts);
  const second = await runGarbageCollection(db, storage, silentLogger(), { ...opts, now: new Date() });
  const line = (label: string, r: typeof first) =>
    `${label}: ${r.ms} ms (${r.objects} objects, ${r.nars} NARs, ${r.chunks} chunks deleted${r.fullSweep ? ", full sweep" : ""}; ${JSON.stringify(r.phaseMs)})`;
  process.stdout.write(
    `GC on ${OBJECTS.toLocaleString("en")} objects, ${100 / GARBAGE_EVERY}% expired\n` +
      `${line("first run", first)}\n${line("next run, nothing to collect", second)}\n`,
  );
}

try {
  await main();
} finally {
  await runCleanups();
}
