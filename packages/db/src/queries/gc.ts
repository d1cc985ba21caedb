/**
 * The collector's SQL (attic `server/src/gc.rs` for the three phases; garret's tables from
 * `migrations/0004_gc_and_pins.sql`). Every statement runs on one dedicated session, because the
 * run holds a session advisory lock and keeps its expired set in a temporary table.
 *
 * Cost follows the garbage, not the database: expiry probes `garret-idx-object-cache-last-use`
 * per cache; closure checks probe `garret-idx-object-references` per expired object; NARs and
 * chunks come from candidate queues (filled by triggers and by NAR deletion) rather than from
 * scans of `nar` and `chunk`. Deletions go 1000 rows per statement or transaction.
 *
 * Plans are pinned where the planner would otherwise prefer a scan: expiry runs per cache with a
 * constant cutoff; the "who references this?" probes sit in `OFFSET 0` subqueries (never turned
 * into joins, so each is one GIN lookup) and compare `cache_id + 0` (so the GIN index is not
 * ANDed with a whole-cache index scan).
 *
 * Safety against uploads: a NAR or chunk is first locked (`FOR UPDATE SKIP LOCKED`, `V`,
 * `holders_count = 0`), and only then, in a later statement of the same transaction (a fresh
 * snapshot under READ COMMITTED), checked for referencing objects or chunkrefs. An upload either
 * still holds its lease when the lock is taken (the row is skipped) or released it after
 * committing its references, which the later snapshot sees.
 */
import type { SqlSession } from "../client.ts";
import { toBoolean } from "../sqlite-values.ts";
import { GC_BATCH } from "./gc-batch.ts";
import { GC_SQLITE } from "./gc-sqlite.ts";

export { GC_BATCH };

/** Advisory lock key shared by every garret collector ("garretgc" as a 64-bit number). */
export const GC_LOCK_KEY = "7449355108620170083";
/** Finished runs kept in garret_gc_run. */
const RUNS_KEPT = 100;

/** Statements whose plans `gc.test.ts` checks for index use, with sample parameters. */
export const GC_SQL = {
  /** Caches whose effective retention is positive ($1: the server's default, seconds). */
  expiringCaches: `
    SELECT c.id, COALESCE(c.retention_period, $1::int) AS retention, COALESCE(s.closure_retention, false) AS closure
    FROM cache c LEFT JOIN garret_cache_settings s ON s.cache_id = c.id
    WHERE COALESCE(c.retention_period, $1::int) > 0`,

  /** One cache's expired objects; a constant cutoff per statement keeps the plan on the index. */
  fillExpired: `
    INSERT INTO garret_gc_expired (id, cache_id, hash, base, cutoff, closure)
    SELECT o.id, o.cache_id, o.store_path_hash, regexp_replace(o.store_path, '^.*/', ''), $2::timestamptz, $3::boolean
    FROM object o
    WHERE o.cache_id = $1::bigint AND GREATEST(o.created_at, o.last_accessed_at) < $2::timestamptz`,

  protectPinned: `
    WITH RECURSIVE pinned(id) AS (
      SELECT o.id
      FROM (SELECT p.cache_id, unnest(p.store_path_hashes) AS hash FROM garret_pin p
            WHERE p.expires_at IS NULL OR p.expires_at > $1::timestamptz) r
      JOIN object o ON o.cache_id = r.cache_id AND o.store_path_hash = r.hash
      UNION
      SELECT o.id
      FROM pinned k
      JOIN object p ON p.id = k.id
      CROSS JOIN LATERAL jsonb_array_elements_text(p."references"::jsonb) AS ref(base)
      CROSS JOIN LATERAL (
        SELECT o.id FROM object o WHERE o.cache_id = p.cache_id AND o.store_path_hash = left(ref.base, 32)
        OFFSET 0) o)
    DELETE FROM garret_gc_expired x USING pinned k WHERE x.id = k.id`,

  protectClosures: `
    WITH RECURSIVE kept(id) AS (
      SELECT x.id FROM garret_gc_expired x
      WHERE x.closure AND EXISTS (
        SELECT 1 FROM object y
        WHERE y."references"::jsonb ? x.base AND y.cache_id + 0 = x.cache_id AND y.id <> x.id
          AND NOT EXISTS (SELECT 1 FROM garret_gc_expired z WHERE z.id = y.id)
        OFFSET 0)
      UNION
      SELECT x.id
      FROM kept k
      JOIN object p ON p.id = k.id
      CROSS JOIN LATERAL jsonb_array_elements_text(p."references"::jsonb) AS ref(base)
      JOIN garret_gc_expired x ON x.cache_id = p.cache_id AND x.hash = left(ref.base, 32))
    DELETE FROM garret_gc_expired x USING kept k WHERE x.id = k.id`,

  /**
   * Deletes one batch of expired objects, re-checking expiry (a re-upload or download since the
   * set was built keeps the object) and, in closure caches, that no kept object references it now.
   */
  deleteExpired: `
    WITH batch AS (SELECT id, cache_id, base, cutoff, closure FROM garret_gc_expired ORDER BY id LIMIT ${GC_BATCH}),
    gone AS (
      DELETE FROM object o USING batch b
      WHERE o.id = b.id AND GREATEST(o.created_at, o.last_accessed_at) < b.cutoff
        AND NOT (b.closure AND EXISTS (
          SELECT 1 FROM object y
          WHERE y."references"::jsonb ? b.base AND y.cache_id + 0 = b.cache_id AND y.id <> b.id
            AND NOT EXISTS (SELECT 1 FROM garret_gc_expired z WHERE z.id = y.id)
          OFFSET 0))
      RETURNING o.id),
    dequeued AS (DELETE FROM garret_gc_expired x USING batch b WHERE x.id = b.id RETURNING 1)
    SELECT (SELECT count(*) FROM gone)::int AS deleted, (SELECT count(*) FROM dequeued)::int AS taken`,

  nextNarCandidates: `SELECT nar_id AS id FROM garret_gc_nar_candidate WHERE nar_id > $1::bigint ORDER BY nar_id LIMIT ${GC_BATCH}`,

  lockNars: `SELECT id FROM nar WHERE id = ANY($1::bigint[]) AND state = 'V' AND holders_count = 0 FOR UPDATE SKIP LOCKED`,

  /** Deletes the locked NARs nothing references; their chunks are queued first (chunkrefs cascade). */
  deleteNars: `
    WITH doomed AS (
      SELECT n.id FROM nar n
      WHERE n.id = ANY($1::bigint[]) AND NOT EXISTS (SELECT 1 FROM object o WHERE o.nar_id = n.id)),
    queued AS (
      INSERT INTO garret_gc_chunk_candidate (chunk_id)
      SELECT DISTINCT r.chunk_id FROM chunkref r JOIN doomed d ON r.nar_id = d.id WHERE r.chunk_id IS NOT NULL
      ON CONFLICT DO NOTHING),
    gone AS (DELETE FROM nar n USING doomed d WHERE n.id = d.id RETURNING n.id)
    SELECT count(*)::int AS n FROM gone`,

  /** Candidates still leased by an upload stay queued: the upload may yet drop them. */
  dequeueNars: `
    DELETE FROM garret_gc_nar_candidate q WHERE q.nar_id = ANY($1::bigint[])
      AND NOT (q.nar_id = ANY($2::bigint[]) IS NOT TRUE
               AND EXISTS (SELECT 1 FROM nar n WHERE n.id = q.nar_id AND n.state = 'V'))`,

  lockStalePendingNars: `
    SELECT id FROM nar WHERE state = 'P' AND created_at < $1::timestamptz
    ORDER BY id LIMIT ${GC_BATCH} FOR UPDATE SKIP LOCKED`,

  deletePendingNars: `
    WITH queued AS (
      INSERT INTO garret_gc_chunk_candidate (chunk_id)
      SELECT DISTINCT r.chunk_id FROM chunkref r WHERE r.nar_id = ANY($1::bigint[]) AND r.chunk_id IS NOT NULL
      ON CONFLICT DO NOTHING),
    gone AS (DELETE FROM nar WHERE id = ANY($1::bigint[]) AND state = 'P' RETURNING id)
    SELECT count(*)::int AS n FROM gone`,

  /** Chunks of uploads that failed after storing them: valid, unheld, unreferenced, recent. */
  queueRecentOrphanChunks: `
    INSERT INTO garret_gc_chunk_candidate (chunk_id)
    SELECT c.id FROM chunk c
    WHERE c.state = 'V' AND c.created_at >= $1::timestamptz AND c.holders_count = 0
      AND NOT EXISTS (SELECT 1 FROM chunkref r WHERE r.chunk_id = c.id)
    ON CONFLICT DO NOTHING`,

  nextChunkCandidates: `SELECT chunk_id AS id FROM garret_gc_chunk_candidate WHERE chunk_id > $1::bigint ORDER BY chunk_id LIMIT ${GC_BATCH}`,

  lockChunks: `SELECT id FROM chunk WHERE id = ANY($1::bigint[]) AND state = 'V' AND holders_count = 0 FOR UPDATE SKIP LOCKED`,

  tombstoneChunks: `
    UPDATE chunk SET state = 'D'
    WHERE id = ANY($1::bigint[]) AND NOT EXISTS (SELECT 1 FROM chunkref r WHERE r.chunk_id = chunk.id)
    RETURNING id`,

  dequeueChunks: `
    DELETE FROM garret_gc_chunk_candidate q WHERE q.chunk_id = ANY($1::bigint[])
      AND NOT (q.chunk_id = ANY($2::bigint[]) IS NOT TRUE
               AND EXISTS (SELECT 1 FROM chunk c WHERE c.id = q.chunk_id AND c.state = 'V'))`,

  /** Chunk rows of uploads that died before their file was complete (a live one refreshes `leased_at`). */
  tombstoneStalePendingChunks: `
    UPDATE chunk SET state = 'D' WHERE id IN (
      SELECT id FROM chunk WHERE state = 'P' AND COALESCE(leased_at, created_at) < $1::timestamptz
      ORDER BY id LIMIT ${GC_BATCH} FOR UPDATE SKIP LOCKED)
    RETURNING id`,

  nextTombstones: `
    SELECT id, remote_file, file_size FROM chunk WHERE state = 'D' AND id > $1::bigint ORDER BY id LIMIT ${GC_BATCH}`,

  deleteTombstones: `DELETE FROM chunk WHERE id = ANY($1::bigint[]) AND state = 'D'`,

  /** Dry runs: what deleting the expired set would free ($1 orphan chunks since, $2 pending cutoff, $3 full). */
  estimate: `
    WITH cand_nar AS (
       SELECT nar_id AS id FROM garret_gc_nar_candidate
       UNION SELECT o.nar_id FROM garret_gc_expired x JOIN object o ON o.id = x.id
       UNION SELECT n.id FROM nar n WHERE $3::boolean AND n.state = 'V'),
     dead_nar AS (
       SELECT n.id FROM nar n JOIN cand_nar c ON c.id = n.id
       WHERE n.state = 'V' AND n.holders_count = 0
         AND NOT EXISTS (SELECT 1 FROM object o WHERE o.nar_id = n.id
                         AND NOT EXISTS (SELECT 1 FROM garret_gc_expired x WHERE x.id = o.id) OFFSET 0)
       UNION SELECT n.id FROM nar n WHERE n.state = 'P' AND n.created_at < $2::timestamptz),
     cand_chunk AS (
       SELECT chunk_id AS id FROM garret_gc_chunk_candidate
       UNION SELECT r.chunk_id FROM chunkref r JOIN dead_nar d ON d.id = r.nar_id WHERE r.chunk_id IS NOT NULL
       UNION SELECT c.id FROM chunk c WHERE c.state = 'V' AND c.created_at >= $1::timestamptz),
     dead_chunk AS (
       SELECT c.id, c.file_size FROM chunk c JOIN cand_chunk k ON k.id = c.id
       WHERE c.state = 'V' AND c.holders_count = 0
         AND NOT EXISTS (SELECT 1 FROM chunkref r WHERE r.chunk_id = c.id
                         AND NOT EXISTS (SELECT 1 FROM dead_nar d WHERE d.id = r.nar_id) OFFSET 0)
       UNION ALL SELECT c.id, c.file_size FROM chunk c WHERE c.state = 'D'
       UNION ALL SELECT c.id, c.file_size FROM chunk c WHERE c.state = 'P' AND COALESCE(c.leased_at, c.created_at) < $2::timestamptz)
     SELECT (SELECT count(*) FROM dead_nar)::int AS nars, (SELECT count(*) FROM dead_chunk)::int AS chunks,
            (SELECT COALESCE(sum(file_size), 0) FROM dead_chunk)::bigint AS bytes`,
} as const;

export interface GcRunRecord {
  startedAt: Date;
  finishedAt: Date;
  fullSweep: boolean;
  objects: number;
  nars: number;
  chunks: number;
  bytes: number;
  failedDeletions: number;
}

export interface Tombstone {
  id: number;
  remoteFile: string;
  fileSize: number;
}

/**
 * Takes the collector's lock. On SQLite there is none to take: one process uses the file (garretd
 * locks it) and its sessions run one after another.
 */
export async function tryLockGc(session: SqlSession): Promise<boolean> {
  if (session.dialect === "sqlite") return true;
  const [row] = await session.query<{ locked: boolean }>(
    "SELECT pg_try_advisory_lock($1::bigint) AS locked",
    [GC_LOCK_KEY],
  );
  return row?.locked === true;
}

export async function unlockGc(session: SqlSession): Promise<void> {
  if (session.dialect === "sqlite") return;
  await session.query("SELECT pg_advisory_unlock($1::bigint)", [GC_LOCK_KEY]);
}

export async function lastGcRun(session: SqlSession): Promise<GcRunRecord | null> {
  const [row] = await session.query<RunRow>("SELECT * FROM garret_gc_run ORDER BY id DESC LIMIT 1");
  return row ? runOf(row) : null;
}

export async function recordGcRun(session: SqlSession, run: GcRunRecord): Promise<void> {
  await session.query(
    `INSERT INTO garret_gc_run (started_at, finished_at, full_sweep, objects, nars, chunks, bytes, failed_deletions)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [
      run.startedAt,
      run.finishedAt,
      run.fullSweep,
      run.objects,
      run.nars,
      run.chunks,
      run.bytes,
      run.failedDeletions,
    ],
  );
  await session.query(
    `DELETE FROM garret_gc_run WHERE id <= (SELECT id FROM garret_gc_run ORDER BY id DESC LIMIT 1 OFFSET ${RUNS_KEPT})`,
  );
}

interface RunRow extends Record<string, unknown> {
  started_at: Date | string;
  finished_at: Date | string;
  full_sweep: boolean | number;
  objects: number | string;
  nars: number | string;
  chunks: number | string;
  bytes: number | string;
  failed_deletions: number | string;
}

function runOf(row: RunRow): GcRunRecord {
  return {
    startedAt: new Date(row.started_at),
    finishedAt: new Date(row.finished_at),
    fullSweep: toBoolean(row.full_sweep),
    objects: Number(row.objects),
    nars: Number(row.nars),
    chunks: Number(row.chunks),
    bytes: Number(row.bytes),
    failedDeletions: Number(row.failed_deletions),
  };
}

/**
 * Builds the session's expired set: objects past their cache's retention (soft-deleted caches
 * included, caches whose effective retention is 0 skipped), minus pinned closures, minus, in
 * closure caches, everything a kept object reaches. Returns its size.
 */
export async function prepareExpiredSet(
  session: SqlSession,
  opts: { now: Date; defaultRetentionSeconds: number },
): Promise<number> {
  if (session.dialect === "sqlite") {
    await session.exec(GC_SQLITE.createExpired);
    const caches = await session.query<{ id: number; retention: number; closure: number }>(
      GC_SQLITE.expiringCaches,
      [opts.defaultRetentionSeconds],
    );
    for (const c of caches) {
      const cutoff = new Date(opts.now.getTime() - Number(c.retention) * 1000);
      await session.query(GC_SQLITE.fillExpired, [c.id, cutoff, toBoolean(c.closure)]);
    }
    await session.query(GC_SQLITE.protectPinned, [opts.now]);
    await session.query(GC_SQLITE.protectClosures);
    const [row] = await session.query<{ n: number }>(GC_SQLITE.countExpired);
    return Number(row?.n ?? 0);
  }
  await session.exec(`
    CREATE TEMP TABLE IF NOT EXISTS garret_gc_expired (
      id bigint PRIMARY KEY, cache_id bigint NOT NULL, hash text NOT NULL, base text NOT NULL,
      cutoff timestamptz NOT NULL, closure boolean NOT NULL);
    CREATE INDEX IF NOT EXISTS garret_gc_expired_cache_hash ON garret_gc_expired (cache_id, hash);
    TRUNCATE garret_gc_expired`);
  const caches = await session.query<{ id: number; retention: number; closure: boolean }>(
    GC_SQL.expiringCaches,
    [opts.defaultRetentionSeconds],
  );
  for (const c of caches) {
    const cutoff = new Date(opts.now.getTime() - Number(c.retention) * 1000);
    await session.query(GC_SQL.fillExpired, [c.id, cutoff, c.closure]);
  }
  // Temporary tables are never auto-analysed; without statistics the closure joins plan badly.
  await session.exec("ANALYZE garret_gc_expired");
  await session.query(GC_SQL.protectPinned, [opts.now]);
  await session.query(GC_SQL.protectClosures);
  const [row] = await session.query<{ n: number }>("SELECT count(*)::int AS n FROM garret_gc_expired");
  return Number(row?.n ?? 0);
}

export async function dropExpiredSet(session: SqlSession): Promise<void> {
  await session.exec("DROP TABLE IF EXISTS garret_gc_expired");
}

/** Store paths of the expired set, for dry runs. */
export async function listExpiredSet(
  session: SqlSession,
  limit: number,
): Promise<Array<{ cache: string; storePath: string }>> {
  const rows = await session.query<{ cache: string; store_path: string }>(
    `SELECT c.name AS cache, o.store_path FROM garret_gc_expired x
     JOIN object o ON o.id = x.id JOIN cache c ON c.id = o.cache_id
     ORDER BY c.name, o.store_path LIMIT $1`,
    [limit],
  );
  return rows.map((r) => ({ cache: r.cache, storePath: r.store_path }));
}

/** Deletes one batch of the expired set; returns the objects deleted and whether any remain. */
export async function deleteExpiredBatch(session: SqlSession): Promise<{ deleted: number; done: boolean }> {
  if (session.dialect === "sqlite") {
    return session.transaction(async (tx) => {
      const deleted = await tx.query(GC_SQLITE.deleteExpired);
      const taken = await tx.query(GC_SQLITE.dequeueExpired);
      return { deleted: deleted.length, done: taken.length < GC_BATCH };
    });
  }
  const [row] = await session.query<{ deleted: number; taken: number }>(GC_SQL.deleteExpired);
  const taken = Number(row?.taken ?? 0);
  return { deleted: Number(row?.deleted ?? 0), done: taken < GC_BATCH };
}

/**
 * Queues every valid NAR without an object and every valid chunk without a chunkref: a full scan,
 * for the first run on a database (garbage made before the queues existed) and on request.
 */
export async function queueFullSweep(session: SqlSession): Promise<void> {
  if (session.dialect === "sqlite") {
    await session.query(GC_SQLITE.queueOrphanNars);
    await session.query(GC_SQLITE.queueRecentOrphanChunks, [new Date(0)]);
    return;
  }
  await session.query(
    `INSERT INTO garret_gc_nar_candidate (nar_id)
     SELECT n.id FROM nar n WHERE n.state = 'V' AND NOT EXISTS (SELECT 1 FROM object o WHERE o.nar_id = n.id)
     ON CONFLICT DO NOTHING`,
  );
  await session.query(GC_SQL.queueRecentOrphanChunks, [new Date(0)]);
}

export async function queueRecentOrphanChunks(session: SqlSession, since: Date): Promise<void> {
  await session.query(
    session.dialect === "sqlite" ? GC_SQLITE.queueRecentOrphanChunks : GC_SQL.queueRecentOrphanChunks,
    [since],
  );
}

/** Processes every queued NAR once, a batch per transaction; returns the number deleted. */
export async function collectQueuedNars(session: SqlSession): Promise<number> {
  const sqlite = session.dialect === "sqlite";
  let deleted = 0;
  let after = 0;
  for (;;) {
    const next = sqlite ? GC_SQLITE.nextNarCandidates : GC_SQL.nextNarCandidates;
    const ids = (await session.query<{ id: number }>(next, [after])).map((r) => Number(r.id));
    if (ids.length === 0) break;
    after = ids[ids.length - 1] as number;
    deleted += await session.transaction(async (tx) => {
      if (sqlite) {
        const locked = (await tx.query<{ id: number }>(GC_SQLITE.lockNars, [ids])).map((r) => Number(r.id));
        await tx.query(GC_SQLITE.queueChunksOfUnusedNars, [locked]);
        const gone = await tx.query(GC_SQLITE.deleteUnusedNars, [locked]);
        await tx.query(GC_SQLITE.dequeueNars, [ids, locked]);
        return gone.length;
      }
      const locked = (await tx.query<{ id: number }>(GC_SQL.lockNars, [ids])).map((r) => Number(r.id));
      const [gone] = locked.length > 0 ? await tx.query<{ n: number }>(GC_SQL.deleteNars, [locked]) : [];
      await tx.query(GC_SQL.dequeueNars, [ids, locked]);
      return Number(gone?.n ?? 0);
    });
    if (ids.length < GC_BATCH) break;
  }
  return deleted;
}

/** Deletes NARs left pending by uploads that died before `cutoff`; their chunks are queued. */
export async function reapStalePendingNars(session: SqlSession, cutoff: Date): Promise<number> {
  let deleted = 0;
  for (;;) {
    const n = await session.transaction(async (tx) => {
      const sqlite = tx.dialect === "sqlite";
      const lock = sqlite ? GC_SQLITE.lockStalePendingNars : GC_SQL.lockStalePendingNars;
      const ids = (await tx.query<{ id: number }>(lock, [cutoff])).map((r) => Number(r.id));
      if (ids.length === 0) return { locked: 0, gone: 0 };
      if (sqlite) {
        await tx.query(GC_SQLITE.queueChunksOfNars, [ids]);
        return { locked: ids.length, gone: (await tx.query(GC_SQLITE.deletePendingNars, [ids])).length };
      }
      const [row] = await tx.query<{ n: number }>(GC_SQL.deletePendingNars, [ids]);
      return { locked: ids.length, gone: Number(row?.n ?? 0) };
    });
    deleted += n.gone;
    if (n.locked < GC_BATCH) break;
  }
  return deleted;
}

/** Tombstones every queued chunk nothing references or holds; returns the number tombstoned. */
export async function tombstoneQueuedChunks(session: SqlSession): Promise<number> {
  const q = session.dialect === "sqlite" ? GC_SQLITE : GC_SQL;
  let marked = 0;
  let after = 0;
  for (;;) {
    const ids = (await session.query<{ id: number }>(q.nextChunkCandidates, [after])).map((r) =>
      Number(r.id),
    );
    if (ids.length === 0) break;
    after = ids[ids.length - 1] as number;
    marked += await session.transaction(async (tx) => {
      const locked = (await tx.query<{ id: number }>(q.lockChunks, [ids])).map((r) => Number(r.id));
      const dead = locked.length > 0 ? await tx.query<{ id: number }>(q.tombstoneChunks, [locked]) : [];
      await tx.query(q.dequeueChunks, [ids, locked]);
      return dead.length;
    });
    if (ids.length < GC_BATCH) break;
  }
  return marked;
}

export async function tombstoneStalePendingChunks(session: SqlSession, cutoff: Date): Promise<number> {
  let marked = 0;
  for (;;) {
    const q = session.dialect === "sqlite" ? GC_SQLITE : GC_SQL;
    const rows = await session.query<{ id: number }>(q.tombstoneStalePendingChunks, [cutoff]);
    marked += rows.length;
    if (rows.length < GC_BATCH) break;
  }
  return marked;
}

export async function nextTombstones(session: SqlSession, afterId: number): Promise<Tombstone[]> {
  const rows = await session.query<{ id: number; remote_file: string; file_size: number | null }>(
    session.dialect === "sqlite" ? GC_SQLITE.nextTombstones : GC_SQL.nextTombstones,
    [afterId],
  );
  return rows.map((r) => ({
    id: Number(r.id),
    remoteFile: r.remote_file,
    fileSize: Number(r.file_size ?? 0),
  }));
}

export async function deleteTombstones(session: SqlSession, ids: number[]): Promise<void> {
  const q = session.dialect === "sqlite" ? GC_SQLITE : GC_SQL;
  if (ids.length > 0) await session.query(q.deleteTombstones, [ids]);
}

export interface GcEstimate {
  nars: number;
  chunks: number;
  bytes: number;
}

/**
 * What a run would free after deleting the expired set, without changing anything: queued or
 * newly orphaned NARs, the chunks only they use, recent orphan chunks, stale pending rows and
 * existing tombstones. Call after `prepareExpiredSet`.
 */
export async function estimateGarbage(
  session: SqlSession,
  opts: { orphanChunksSince: Date; pendingCutoff: Date; fullSweep: boolean },
): Promise<GcEstimate> {
  const q = session.dialect === "sqlite" ? GC_SQLITE : GC_SQL;
  const [row] = await session.query<{ nars: number; chunks: number; bytes: number }>(q.estimate, [
    opts.orphanChunksSince,
    opts.pendingCutoff,
    opts.fullSweep,
  ]);
  return { nars: Number(row?.nars ?? 0), chunks: Number(row?.chunks ?? 0), bytes: Number(row?.bytes ?? 0) };
}
