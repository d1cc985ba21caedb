/**
 * Push sessions of the chunk-upload API (migration 0014, docs/chunk-upload.md): which chunks one
 * caller uploaded for one NAR into one cache, each holding one lease until the commit. The rule the
 * threat model rests on lives here: a chunk is "present" for a cache only when a valid NAR of an
 * object in that cache references it, or the caller's own session holds it.
 *
 * Sample rows:
 *   garret_chunk_session       (3, 1, 'ci-bot', 'baea…', '2026-01-01 00:00:00+00', '2026-01-01 00:05:00+00')
 *   garret_chunk_session_chunk (3, 'sha256:6c5e…', 812)
 */
import type { Db, SqlSession } from "../client.ts";
import { isSqlite, sqliteRows } from "../dialect.ts";

export interface ChunkSessionKey {
  cacheId: number;
  /** Token subject of the caller. */
  createdBy: string;
  /** 64 hex digits. */
  narHash: string;
}

/** A chunk usable by a commit, leased for it. */
export interface CommitChunk {
  id: number;
  chunkHash: string;
  chunkSize: number;
  remoteFile: string;
  remoteFileId: string;
  fileSize: number | null;
}

/**
 * CTEs ending in `usable(chunk_hash, id)`: for each of the hashes $1, one valid chunk with
 * compression $3 that the session $2 holds, else one that a valid NAR of an object in cache $4
 * references. The "does this cache reference it?" probes are nested `OFFSET 0` subqueries, which
 * pins their order (chunkrefs by chunk id, then objects by NAR id, stopping at the first hit): the
 * planner would otherwise happily start from the cache's objects and walk all their chunkrefs.
 */
const USABLE_CHUNKS = `
  candidates AS (
    SELECT c.id, c.chunk_hash FROM chunk c
    WHERE c.chunk_hash = ANY($1::text[]) AND c.compression = $3 AND c.state = 'V'),
  held AS (
    SELECT DISTINCT ON (s.chunk_hash) s.chunk_hash, s.chunk_id AS id
    FROM garret_chunk_session_chunk s JOIN candidates c ON c.id = s.chunk_id
    WHERE s.session_id = $2::bigint
    ORDER BY s.chunk_hash, s.chunk_id),
  referenced AS (
    SELECT DISTINCT ON (c.chunk_hash) c.chunk_hash, c.id FROM candidates c
    WHERE NOT EXISTS (SELECT 1 FROM held h WHERE h.chunk_hash = c.chunk_hash)
      AND EXISTS (
        SELECT 1 FROM chunkref r
        WHERE r.chunk_id = c.id AND EXISTS (
          SELECT 1 FROM object o JOIN nar n ON n.id = o.nar_id AND n.state = 'V'
          WHERE o.nar_id = r.nar_id AND o.cache_id = $4::bigint
          OFFSET 0)
        OFFSET 0)
    ORDER BY c.chunk_hash, c.id),
  usable AS (SELECT chunk_hash, id FROM held UNION ALL SELECT chunk_hash, id FROM referenced)`;

export const CHUNK_SESSION_SQL = {
  open: `
    INSERT INTO garret_chunk_session (cache_id, created_by, nar_hash, created_at, touched_at)
    VALUES ($1::bigint, $2, $3, now(), now())
    ON CONFLICT (cache_id, created_by, nar_hash) DO UPDATE SET touched_at = now()
    RETURNING id`,
  touch: "UPDATE garret_chunk_session SET touched_at = now() WHERE id = $1::bigint",
  /** The session's chunks stay leased as long as the session is in use. */
  refreshLeases: `
    UPDATE chunk SET leased_at = now()
    WHERE id IN (SELECT chunk_id FROM garret_chunk_session_chunk WHERE session_id = $1::bigint)`,
  /** Of the given hashes, those present for the cache (see `USABLE_CHUNKS`). */
  present: `WITH ${USABLE_CHUNKS} SELECT chunk_hash AS hash FROM usable`,
  addChunks: `
    INSERT INTO garret_chunk_session_chunk (session_id, chunk_hash, chunk_id)
    SELECT $1::bigint, u.hash, u.id FROM unnest($2::text[], $3::bigint[]) AS u(hash, id)
    ON CONFLICT (session_id, chunk_hash) DO NOTHING
    RETURNING chunk_id`,
  /**
   * One chunk per given hash, by the same rule as `present`, leased for the commit (rows locked in
   * id order like every lease statement).
   */
  leaseForCommit: `
    WITH ${USABLE_CHUNKS},
    picked AS (
      SELECT c.id FROM chunk c WHERE c.id IN (SELECT id FROM usable) AND c.state = 'V'
      ORDER BY c.id FOR NO KEY UPDATE)
    UPDATE chunk SET holders_count = chunk.holders_count + 1, leased_at = now()
    FROM picked WHERE chunk.id = picked.id
    RETURNING chunk.id AS id, chunk.chunk_hash AS chunk_hash, chunk.chunk_size AS chunk_size,
      chunk.remote_file AS remote_file, chunk.remote_file_id AS remote_file_id, chunk.file_size AS file_size`,
  /** Ends a session; returns one chunk id per lease it held. */
  close: `
    WITH gone AS (DELETE FROM garret_chunk_session_chunk WHERE session_id = $1::bigint RETURNING chunk_id),
    session AS (DELETE FROM garret_chunk_session WHERE id = $1::bigint)
    SELECT chunk_id FROM gone`,
  /** Sessions untouched since the cutoff; their leases are reset by `resetAbandonedLeases`. */
  reapStale: `
    WITH stale AS (
      SELECT id FROM garret_chunk_session WHERE touched_at < $1::timestamptz ORDER BY id LIMIT 1000),
    gone AS (DELETE FROM garret_chunk_session s USING stale WHERE s.id = stale.id RETURNING s.id)
    SELECT count(*)::int AS n FROM gone`,
} as const;

/** SQLite's texts (one writer, so no row locks; arrays arrive as JSON). */
const SQLITE_USABLE_CHUNKS = `
  candidates AS (
    SELECT c.id, c.chunk_hash FROM chunk c
    WHERE c.chunk_hash IN (SELECT value FROM json_each(?1)) AND c.compression = ?3 AND c.state = 'V'),
  held AS (
    SELECT s.chunk_hash, min(s.chunk_id) AS id
    FROM garret_chunk_session_chunk s JOIN candidates c ON c.id = s.chunk_id
    WHERE s.session_id = ?2
    GROUP BY s.chunk_hash),
  referenced AS (
    SELECT c.chunk_hash, min(c.id) AS id FROM candidates c
    WHERE c.chunk_hash NOT IN (SELECT chunk_hash FROM held)
      AND EXISTS (
        SELECT 1 FROM chunkref r
        JOIN nar n ON n.id = r.nar_id AND n.state = 'V'
        JOIN object o ON o.nar_id = n.id
        WHERE r.chunk_id = c.id AND o.cache_id = ?4)
    GROUP BY c.chunk_hash),
  usable AS (SELECT chunk_hash, id FROM held UNION ALL SELECT chunk_hash, id FROM referenced)`;

const SQLITE_CHUNK_SESSION_SQL = {
  open: `
    INSERT INTO garret_chunk_session (cache_id, created_by, nar_hash, created_at, touched_at)
    VALUES (?1, ?2, ?3, now(), now())
    ON CONFLICT (cache_id, created_by, nar_hash) DO UPDATE SET touched_at = now()
    RETURNING id`,
  touch: "UPDATE garret_chunk_session SET touched_at = now() WHERE id = ?1",
  refreshLeases: `
    UPDATE chunk SET leased_at = now()
    WHERE id IN (SELECT chunk_id FROM garret_chunk_session_chunk WHERE session_id = ?1)`,
  present: `WITH ${SQLITE_USABLE_CHUNKS} SELECT chunk_hash AS hash FROM usable`,
  addChunks: `
    INSERT INTO garret_chunk_session_chunk (session_id, chunk_hash, chunk_id)
    SELECT ?1, u.value ->> '$[0]', u.value ->> '$[1]' FROM json_each(?2) u WHERE true
    ON CONFLICT (session_id, chunk_hash) DO NOTHING
    RETURNING chunk_id`,
  leaseForCommit: `
    WITH ${SQLITE_USABLE_CHUNKS}
    UPDATE chunk SET holders_count = holders_count + 1, leased_at = now()
    WHERE id IN (SELECT id FROM usable) AND state = 'V'
    RETURNING id, chunk_hash, chunk_size, remote_file, remote_file_id, file_size`,
  closeChunks: "DELETE FROM garret_chunk_session_chunk WHERE session_id = ?1 RETURNING chunk_id",
  closeSession: "DELETE FROM garret_chunk_session WHERE id = ?1",
  reapStale: `
    DELETE FROM garret_chunk_session WHERE id IN (
      SELECT id FROM garret_chunk_session WHERE touched_at < ?1 ORDER BY id LIMIT 1000)
    RETURNING id`,
} as const;

/** Opens the caller's session for this NAR, or touches it and refreshes its leases. */
export async function openChunkSession(db: Db, key: ChunkSessionKey): Promise<number> {
  const params = [key.cacheId, key.createdBy, key.narHash];
  const [row] = isSqlite(db)
    ? await sqliteRows<{ id: number | string }>(db, SQLITE_CHUNK_SESSION_SQL.open, params)
    : await db.query<{ id: number | string }>(CHUNK_SESSION_SQL.open, params);
  if (!row) throw new Error("openChunkSession returned no row");
  const id = Number(row.id);
  if (isSqlite(db)) await sqliteRows(db, SQLITE_CHUNK_SESSION_SQL.refreshLeases, [id]);
  else await db.query(CHUNK_SESSION_SQL.refreshLeases, [id]);
  return id;
}

/** Keeps a session in use (a slow upload into it) from looking abandoned: touches it, refreshes its leases. */
export async function touchChunkSession(db: Db, sessionId: number): Promise<void> {
  if (isSqlite(db)) {
    await sqliteRows(db, SQLITE_CHUNK_SESSION_SQL.touch, [sessionId]);
    await sqliteRows(db, SQLITE_CHUNK_SESSION_SQL.refreshLeases, [sessionId]);
    return;
  }
  await db.query(CHUNK_SESSION_SQL.touch, [sessionId]);
  await db.query(CHUNK_SESSION_SQL.refreshLeases, [sessionId]);
}

/** The subset of `hashes` (`sha256:<hex>`) present for this cache and session. */
export async function presentSessionChunks(
  db: Db,
  sessionId: number,
  cacheId: number,
  compression: string,
  hashes: readonly string[],
): Promise<Set<string>> {
  if (hashes.length === 0) return new Set();
  const params = [[...new Set(hashes)], sessionId, compression, cacheId];
  const rows = isSqlite(db)
    ? await sqliteRows<{ hash: string }>(db, SQLITE_CHUNK_SESSION_SQL.present, params)
    : await db.query<{ hash: string }>(CHUNK_SESSION_SQL.present, params);
  return new Set(rows.map((r) => r.hash));
}

/**
 * Records uploaded chunks in the session. Returns the chunk ids whose rows were added: the caller's
 * lease on each of them now belongs to the session; leases on the others are the caller's to give back.
 */
export async function addSessionChunks(
  db: Db,
  sessionId: number,
  chunks: ReadonlyArray<{ chunkHash: string; chunkId: number }>,
): Promise<number[]> {
  if (chunks.length === 0) return [];
  const rows = isSqlite(db)
    ? await sqliteRows<{ chunk_id: number | string }>(db, SQLITE_CHUNK_SESSION_SQL.addChunks, [
        sessionId,
        chunks.map((c) => [c.chunkHash, c.chunkId]),
      ])
    : await db.query<{ chunk_id: number | string }>(CHUNK_SESSION_SQL.addChunks, [
        sessionId,
        chunks.map((c) => c.chunkHash),
        chunks.map((c) => c.chunkId),
      ]);
  return rows.map((r) => Number(r.chunk_id));
}

/** Leases one usable chunk per distinct hash; hashes absent from the result are not present. */
export async function leaseCommitChunks(
  db: Db,
  sessionId: number,
  cacheId: number,
  compression: string,
  hashes: readonly string[],
): Promise<Map<string, CommitChunk>> {
  const found = new Map<string, CommitChunk>();
  if (hashes.length === 0) return found;
  type Row = {
    id: number | string;
    chunk_hash: string;
    chunk_size: number | string;
    remote_file: string;
    remote_file_id: string;
    file_size: number | string | null;
  };
  const params = [[...new Set(hashes)], sessionId, compression, cacheId];
  const rows = isSqlite(db)
    ? await sqliteRows<Row>(db, SQLITE_CHUNK_SESSION_SQL.leaseForCommit, params)
    : await db.query<Row>(CHUNK_SESSION_SQL.leaseForCommit, params);
  for (const r of rows) {
    found.set(r.chunk_hash, {
      id: Number(r.id),
      chunkHash: r.chunk_hash,
      chunkSize: Number(r.chunk_size),
      remoteFile: r.remote_file,
      remoteFileId: r.remote_file_id,
      fileSize: r.file_size === null ? null : Number(r.file_size),
    });
  }
  return found;
}

/** Deletes the session; returns the chunk ids whose session leases the caller must give back. */
export async function closeChunkSession(db: Db, sessionId: number): Promise<number[]> {
  if (isSqlite(db)) {
    return db.transaction(async (tx) => {
      const rows = await sqliteRows<{ chunk_id: number | string }>(tx, SQLITE_CHUNK_SESSION_SQL.closeChunks, [
        sessionId,
      ]);
      await sqliteRows(tx, SQLITE_CHUNK_SESSION_SQL.closeSession, [sessionId]);
      return rows.map((r) => Number(r.chunk_id));
    });
  }
  const rows = await db.query<{ chunk_id: number | string }>(CHUNK_SESSION_SQL.close, [sessionId]);
  return rows.map((r) => Number(r.chunk_id));
}

/** GC: deletes sessions untouched since `cutoff` (in batches); returns how many. */
export async function reapStaleChunkSessions(session: SqlSession, cutoff: Date): Promise<number> {
  let total = 0;
  for (;;) {
    const n =
      session.dialect === "sqlite"
        ? (await session.query(SQLITE_CHUNK_SESSION_SQL.reapStale, [cutoff])).length
        : Number((await session.query<{ n: number }>(CHUNK_SESSION_SQL.reapStale, [cutoff]))[0]?.n ?? 0);
    total += n;
    if (n === 0) return total;
  }
}
