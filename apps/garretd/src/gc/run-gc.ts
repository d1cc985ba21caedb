/**
 * One garbage-collection run, atticd's three phases (attic `gc.rs`) plus reaping of rows a crash
 * left behind (attic #64/#65/#361):
 *   1. expire objects older than their cache's retention period (by `created_at` and
 *      `last_accessed_at`; caches whose effective retention is 0 are kept forever);
 *   2. delete NARs no object references and nobody holds, and pending NARs older than the grace
 *      period (their chunkrefs cascade away);
 *   3. tombstone (`D`) chunks no chunkref references and nobody holds, and pending chunks older
 *      than the grace period; delete their files; delete the rows whose files are gone. Failed
 *      deletions stay `D` and are retried on the next run.
 * Only one collector runs at a time across replicas: the run holds a Postgres advisory lock on a
 * dedicated session and skips itself when another process has it.
 */
import type { Db, SqlSession } from "@garret/db";
import { parseRemoteFile, type StorageBackend } from "@garret/storage";
import type { Logger } from "../log.ts";

/** Advisory lock key shared by every garret collector ("garretgc" as a 64-bit number). */
const GC_LOCK_KEY = "7449355108620170083";
const DELETE_BATCH = 1000;
const STORAGE_DELETE_CONCURRENCY = 20;

export interface GcOptions {
  defaultRetentionSeconds: number;
  /** Pending rows younger than this belong to uploads that may still be running. */
  pendingGraceSeconds: number;
  now: Date;
}

export interface GcSummary {
  ran: boolean;
  objects: number;
  nars: number;
  chunks: number;
  bytes: number;
  failedDeletions: number;
  ms: number;
}

export async function runGarbageCollection(
  db: Db,
  storage: StorageBackend,
  log: Logger,
  opts: GcOptions,
): Promise<GcSummary> {
  const started = performance.now();
  const summary = await db.withSession(async (session) => {
    const [lock] = await session.query<{ locked: boolean }>(
      "SELECT pg_try_advisory_lock($1::bigint) AS locked",
      [GC_LOCK_KEY],
    );
    if (!lock?.locked) return null;
    try {
      return await collect(session, storage, log, opts);
    } finally {
      await session.query("SELECT pg_advisory_unlock($1::bigint)", [GC_LOCK_KEY]);
    }
  });
  const ms = Math.round(performance.now() - started);
  if (!summary) {
    log.info("garbage collection skipped: another collector holds the lock");
    return { ran: false, objects: 0, nars: 0, chunks: 0, bytes: 0, failedDeletions: 0, ms };
  }
  const result = { ran: true, ...summary, ms };
  log.info(
    `garbage collection: deleted ${result.objects} objects, ${result.nars} NARs, ${result.chunks} chunks, ${result.bytes} bytes in ${ms} ms`,
    { gc: result },
  );
  return result;
}

async function collect(session: SqlSession, storage: StorageBackend, log: Logger, opts: GcOptions) {
  const now = opts.now.toISOString();

  // Phase 1: objects past their cache's retention, unless downloaded within it.
  const expired = await session.query<{ n: number }>(
    `WITH expired AS (
       DELETE FROM object o USING cache c
       WHERE o.cache_id = c.id
         AND COALESCE(c.retention_period, $2::int) > 0
         AND o.created_at < $1::timestamptz - make_interval(secs => COALESCE(c.retention_period, $2::int))
         AND (o.last_accessed_at IS NULL
              OR o.last_accessed_at < $1::timestamptz - make_interval(secs => COALESCE(c.retention_period, $2::int)))
       RETURNING 1)
     SELECT count(*)::int AS n FROM expired`,
    [now, opts.defaultRetentionSeconds],
  );

  // Phase 2: unreferenced, unheld valid NARs, and pending NARs of uploads that died.
  const nars = await session.query<{ n: number }>(
    `WITH doomed AS (
       DELETE FROM nar WHERE id IN (
         SELECT n.id FROM nar n
         WHERE (n.state = 'V' AND n.holders_count = 0
                AND NOT EXISTS (SELECT 1 FROM object o WHERE o.nar_id = n.id))
            OR (n.state = 'P' AND n.created_at < $1::timestamptz - make_interval(secs => $2::int))
         FOR UPDATE SKIP LOCKED)
       RETURNING 1)
     SELECT count(*)::int AS n FROM doomed`,
    [now, opts.pendingGraceSeconds],
  );

  // Phase 3a: tombstone chunks nothing references or holds, and pending chunks of dead uploads.
  await session.query(
    `UPDATE chunk SET state = 'D' WHERE id IN (
       SELECT c.id FROM chunk c
       WHERE (c.state = 'V' AND c.holders_count = 0
              AND NOT EXISTS (SELECT 1 FROM chunkref r WHERE r.chunk_id = c.id))
          OR (c.state = 'P' AND c.created_at < $1::timestamptz - make_interval(secs => $2::int))
       FOR UPDATE SKIP LOCKED)`,
    [now, opts.pendingGraceSeconds],
  );

  // Phase 3b/c: delete tombstoned files, then their rows; failures stay `D` for the next run.
  let chunks = 0;
  let bytes = 0;
  let failedDeletions = 0;
  let afterId = 0;
  for (;;) {
    const batch = await session.query<{ id: number; remote_file: string; file_size: number | null }>(
      `SELECT id, remote_file, file_size FROM chunk WHERE state = 'D' AND id > $1 ORDER BY id LIMIT ${DELETE_BATCH}`,
      [afterId],
    );
    if (batch.length === 0) break;
    afterId = Number(batch[batch.length - 1]?.id);
    const deleted: number[] = [];
    let next = 0;
    const worker = async () => {
      while (next < batch.length) {
        const row = batch[next++];
        if (!row) break;
        try {
          await storage.delete(parseRemoteFile(row.remote_file));
          deleted.push(Number(row.id));
          bytes += Number(row.file_size ?? 0);
        } catch (err) {
          failedDeletions++;
          log.warn("failed to delete chunk file; will retry on the next run", { err, chunkId: row.id });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(STORAGE_DELETE_CONCURRENCY, batch.length) }, worker));
    if (deleted.length > 0) {
      await session.query("DELETE FROM chunk WHERE state = 'D' AND id = ANY($1::bigint[])", [deleted]);
      chunks += deleted.length;
    }
    if (batch.length < DELETE_BATCH) break;
  }

  return {
    objects: Number(expired[0]?.n ?? 0),
    nars: Number(nars[0]?.n ?? 0),
    chunks,
    bytes,
    failedDeletions,
  };
}
