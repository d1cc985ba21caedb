/**
 * A large synthetic garret database built with set-based inserts (generate_series), for the GC and
 * scaling benchmarks: `objects` objects spread over 10 caches (retention 30 days, closure-aware
 * retention on), one NAR per object, each NAR made of its own chunk plus one of 1,000 shared
 * chunks, each object referencing three others of its cache. Every `garbageEvery`-th object is 60
 * days old (past retention, referenced by nothing); the others 0-20 days. Object i lives in cache
 * `bench<i % 10>` and uses NAR i.
 */
import type { Db } from "@garret/db";

const CACHES = 10;
const SHARED_CHUNKS = 1000;

/** The SQL expression for object i's store path hash (32 characters of Nix's base32 alphabet). */
const HASH_SQL = (i: string) => `translate(md5(${i}::text), 'eotu', 'xyzw')`;

export async function buildSyntheticStore(
  db: Db,
  opts: { objects: number; garbageEvery: number; lastGcRunADayAgo: boolean },
): Promise<void> {
  const { objects: n, garbageEvery } = opts;
  await db.withSession(async (s) => {
    await s.exec("SET statement_timeout = 0");
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
       FROM generate_series(1, ${n}) AS i`,
    );
    await s.query(
      `INSERT INTO chunk (id, state, chunk_hash, chunk_size, file_hash, file_size, compression, remote_file,
                          remote_file_id, holders_count, created_at)
       SELECT i, 'V', 'sha256:' || md5('c' || i) || md5('c' || i), 150000, 'sha256:' || md5('f' || i), 60000, 'zstd',
              '{"Local":{"name":"bench-' || i || '.chunk"}}', 'local:bench-' || i || '.chunk', 0,
              now() - interval '60 days'
       FROM generate_series(1, ${n} + ${SHARED_CHUNKS}) AS i`,
    );
    await s.query(
      `INSERT INTO chunkref (nar_id, seq, chunk_id)
       SELECT i, 0, i FROM generate_series(1, ${n}) AS i
       UNION ALL
       SELECT i, 1, ${n} + 1 + (i % ${SHARED_CHUNKS}) FROM generate_series(1, ${n}) AS i`,
    );
    // References: objects i - 10, i - 20, i - 30 (same cache), with expired ones swapped for kept ones.
    await s.query(
      `WITH o AS (SELECT i, ${HASH_SQL("i")} AS h FROM generate_series(1, ${n}) AS i)
       INSERT INTO object (id, cache_id, nar_id, store_path_hash, store_path, "references", sigs, created_at)
       SELECT o.i, (o.i % ${CACHES}) + 1, o.i, o.h,
              '/nix/store/' || o.h || '-bench-' || o.i,
              (SELECT COALESCE(json_agg(${HASH_SQL("r")} || '-bench-' || r), '[]')::text
               FROM (SELECT CASE WHEN j % ${garbageEvery} = 0 THEN j - ${CACHES} ELSE j END AS r
                     FROM unnest(ARRAY[o.i - ${CACHES}, o.i - 2 * ${CACHES}, o.i - 3 * ${CACHES}]) AS j WHERE j > ${CACHES}) refs),
              '[]',
              CASE WHEN o.i % ${garbageEvery} = 0 THEN now() - interval '60 days'
                   ELSE now() - make_interval(secs => (o.i % 1728000)) END
       FROM o`,
    );
    for (const t of ["cache", "nar", "chunk", "chunkref", "object"]) {
      await s.exec(`SELECT setval(pg_get_serial_sequence('${t}', 'id'), (SELECT max(id) FROM ${t}))`);
    }
    if (opts.lastGcRunADayAgo) {
      await s.query(
        `INSERT INTO garret_gc_run (started_at, finished_at, full_sweep, objects, nars, chunks, bytes, failed_deletions)
         VALUES (now() - interval '1 day', now() - interval '1 day', true, 0, 0, 0, 0, 0)`,
      );
    }
    await s.exec("VACUUM ANALYZE");
  });
}
