/**
 * GC benchmark: one collection over a Postgres database of 1,000,000 objects of which 1% are past
 * their cache's retention, built with set-based inserts (generate_series), then timed.
 *
 *     node --import tsx bench/gc.ts [--objects N] [--garbage-percent P] [--postgres-url URL]
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
const CACHES = 10;
const SHARED_CHUNKS = 1000;

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
  await db.withSession(async (s) => {
    await s.exec("SET statement_timeout = 0");
    // Object i lives in cache i % 10; its NAR is i; its chunks are i (own) and the shared one.
    // Objects with i % GARBAGE_EVERY = 0 are 60 days old; the others 0-20 days.
    await s.query(
      `INSERT INTO cache (name, keypair, is_public, store_dir, priority, upstream_cache_key_names, created_at, retention_period)
       SELECT 'bench' || c, 'bench' || c || ':x', false, '/nix/store', 41, '[]', now(), 30 * 86400
       FROM generate_series(0, ${CACHES} - 1) AS c`,
    );
    await s.query(
      "INSERT INTO garret_cache_settings (cache_id, closure_retention) SELECT id, true FROM cache",
    );
    await s.query(
      `INSERT INTO nar (id, state, nar_hash, nar_size, compression, holders_count, created_at, num_chunks)
       SELECT i, 'V', 'sha256:' || md5(i::text) || md5(i::text), 200000, 'zstd', 0, now() - interval '60 days', 2
       FROM generate_series(1, ${OBJECTS}) AS i`,
    );
    await s.query(
      `INSERT INTO chunk (id, state, chunk_hash, chunk_size, file_hash, file_size, compression, remote_file,
                          remote_file_id, holders_count, created_at)
       SELECT i, 'V', 'sha256:' || md5('c' || i) || md5('c' || i), 150000, 'sha256:' || md5('f' || i), 60000, 'zstd',
              '{"Local":{"name":"bench-' || i || '.chunk"}}', 'local:bench-' || i || '.chunk', 0,
              now() - interval '60 days'
       FROM generate_series(1, ${OBJECTS} + ${SHARED_CHUNKS}) AS i`,
    );
    await s.query(
      `INSERT INTO chunkref (nar_id, seq, chunk_id)
       SELECT i, 0, i FROM generate_series(1, ${OBJECTS}) AS i
       UNION ALL
       SELECT i, 1, ${OBJECTS} + 1 + (i % ${SHARED_CHUNKS}) FROM generate_series(1, ${OBJECTS}) AS i`,
    );
    // References: objects i - 10, i - 20, i - 30 (same cache), with expired ones swapped for kept ones.
    await s.query(
      `WITH o AS (SELECT i, translate(md5(i::text), 'eotu', 'xyzw') AS h FROM generate_series(1, ${OBJECTS}) AS i)
       INSERT INTO object (id, cache_id, nar_id, store_path_hash, store_path, "references", sigs, created_at)
       SELECT o.i, (o.i % ${CACHES}) + 1, o.i, o.h,
              '/nix/store/' || o.h || '-bench-' || o.i,
              (SELECT COALESCE(json_agg(translate(md5(r::text), 'eotu', 'xyzw') || '-bench-' || r), '[]')::text
               FROM (SELECT CASE WHEN j % ${GARBAGE_EVERY} = 0 THEN j - ${CACHES} ELSE j END AS r
                     FROM unnest(ARRAY[o.i - ${CACHES}, o.i - 2 * ${CACHES}, o.i - 3 * ${CACHES}]) AS j WHERE j > ${CACHES}) refs),
              '[]',
              CASE WHEN o.i % ${GARBAGE_EVERY} = 0 THEN now() - interval '60 days'
                   ELSE now() - make_interval(secs => (o.i % 1728000)) END
       FROM o`,
    );
    for (const t of ["cache", "nar", "chunk", "chunkref", "object"]) {
      await s.exec(`SELECT setval(pg_get_serial_sequence('${t}', 'id'), (SELECT max(id) FROM ${t}))`);
    }
    if (!values["full-sweep"]) {
      await s.query(
        `INSERT INTO garret_gc_run (started_at, finished_at, full_sweep, objects, nars, chunks, bytes, failed_deletions)
         VALUES (now() - interval '1 day', now() - interval '1 day', true, 0, 0, 0, 0, 0)`,
      );
    }
    await s.exec("VACUUM ANALYZE");
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
