/**
 * The database side of a NAR kept whole (one chunk whose hash is the NAR hash, the common case in
 * a closure), in two steps instead of the lease → validate → commit → release round of chunked
 * NARs:
 *
 * 1. `reserveWholeChunk` (before the file is written, outside any transaction): a valid chunk with
 *    that hash and compression, or else a pending (`P`) row for the file about to be written, in
 *    one statement. The pending row is what lets GC reap the file if the process dies before the
 *    commit; it holds no lease (GC reaps `P` rows by age, and the upload refreshes `leased_at`).
 * 2. `linkWholeChunk` (in the commit's transaction): the pending row made valid, or the existing
 *    valid chunk locked, plus the NAR row and its chunkref. A chunk GC collected or tombstoned in
 *    between yields null, and nothing is written.
 *
 * No lease is taken: the chunk becomes referenced in the same transaction that makes it valid (or
 * checks it still is), so GC, which only collects valid unheld chunks without chunkrefs, never sees
 * it unreferenced, and a crash leaves at most a pending row and its file, which GC reaps.
 */
import { isSqlite, sqliteRows } from "../dialect.ts";
import type { NarState } from "../schema.ts";
import type { NewPendingChunk } from "./chunks.ts";
import { type Executor, rawRows } from "./executor.ts";

/** What `reserveWholeChunk` found or made. */
export type ReservedChunk =
  /** A pending row for the file about to be written. */
  | { id: number; fresh: true }
  /** A valid chunk with that hash and compression, already stored. */
  | { id: number; fresh: false; fileSize: number | null };

/** The chunk `linkWholeChunk` links: a reserved pending row once its file is written, or an existing one. */
export type WholeChunk =
  | { id: number; fresh: true; fileHash: string; fileSize: number }
  | { id: number; fresh: false };

export interface WholeNar {
  state: NarState;
  narHash: string;
  narSize: number;
  compression: string;
}

const SQLITE = {
  reserve: `
    INSERT INTO chunk (state, chunk_hash, chunk_size, compression, remote_file, remote_file_id, holders_count, created_at)
    SELECT 'P', ?1, ?2, ?3, ?4, ?5, 0, now()
    WHERE NOT EXISTS (SELECT 1 FROM chunk WHERE chunk_hash = ?1 AND compression = ?3 AND state = 'V')
    RETURNING id`,
  existing: `
    SELECT id, file_size FROM chunk WHERE chunk_hash = ?1 AND compression = ?2 AND state = 'V'
    ORDER BY id LIMIT 1`,
  validate:
    "UPDATE chunk SET state = 'V', file_hash = ?2, file_size = ?3 WHERE id = ?1 AND state = 'P' RETURNING id",
  check: "SELECT id FROM chunk WHERE id = ?1 AND state = 'V'",
  nar: `
    INSERT INTO nar (state, nar_hash, nar_size, compression, num_chunks, holders_count, created_at)
    VALUES (?1, ?2, ?3, ?4, 1, 0, now()) RETURNING id`,
  chunkref: "INSERT INTO chunkref (nar_id, seq, chunk_id) VALUES (?1, 0, ?2)",
} as const;

/**
 * Postgres does it all in one statement each. The existing chunk is locked `FOR KEY SHARE`, as
 * `lockValidChunks` does: GC's `FOR UPDATE SKIP LOCKED` skips it, and a lease statement's
 * `FOR NO KEY UPDATE` does not wait for it.
 */
const RESERVE_SQL = `
  WITH found AS (
    SELECT id, file_size FROM chunk
    WHERE chunk_hash = $1::text AND compression = $3::text AND state = 'V'
    ORDER BY id LIMIT 1
  ), made AS (
    INSERT INTO chunk (state, chunk_hash, chunk_size, compression, remote_file, remote_file_id, holders_count, created_at)
    SELECT 'P', $1::text, $2::bigint, $3::text, $4::text, $5::text, 0, now()
    WHERE NOT EXISTS (SELECT 1 FROM found)
    RETURNING id
  )
  SELECT id, file_size, false AS fresh FROM found
  UNION ALL SELECT id, NULL, true FROM made`;

const LINK_TAIL = `
  , n AS (
    INSERT INTO nar (state, nar_hash, nar_size, compression, num_chunks, holders_count, created_at)
    SELECT $2::char(1), $3::text, $4::bigint, $5::text, 1, 0, now() FROM c
    RETURNING id
  ), r AS (
    INSERT INTO chunkref (nar_id, seq, chunk_id) SELECT n.id, 0, c.id FROM n, c
  )
  SELECT id FROM n`;

const LINK_FRESH_SQL = `
  WITH c AS (
    UPDATE chunk SET state = 'V', file_hash = $6::text, file_size = $7::bigint
    WHERE id = $1::bigint AND state = 'P' RETURNING id
  )${LINK_TAIL}`;

const LINK_EXISTING_SQL = `
  WITH c AS (
    SELECT id FROM chunk WHERE id = $1::bigint AND state = 'V' FOR KEY SHARE
  )${LINK_TAIL}`;

/** Step 1: a valid chunk with the input's hash and compression, or a new pending row for it. */
export async function reserveWholeChunk(db: Executor, input: NewPendingChunk): Promise<ReservedChunk> {
  type Row = { id: number | string; file_size: number | string | null; fresh?: boolean };
  if (isSqlite(db)) {
    const [made] = await sqliteRows<Row>(db, SQLITE.reserve, [
      input.chunkHash,
      input.chunkSize,
      input.compression,
      input.remoteFile,
      input.remoteFileId,
    ]);
    if (made) return { id: Number(made.id), fresh: true };
    const [found] = await sqliteRows<Row>(db, SQLITE.existing, [input.chunkHash, input.compression]);
    if (!found) throw new Error("reserveWholeChunk found neither a valid chunk nor room for a new one");
    return existing(found);
  }
  const params = [input.chunkHash, input.chunkSize, input.compression, input.remoteFile, input.remoteFileId];
  const [row] = await rawRows<Row>(db, RESERVE_SQL, params, "garret_reserve_whole_chunk");
  if (!row) throw new Error("reserveWholeChunk returned no row");
  return row.fresh ? { id: Number(row.id), fresh: true } : existing(row);
}

function existing(row: { id: number | string; file_size: number | string | null }): ReservedChunk {
  return {
    id: Number(row.id),
    fresh: false,
    fileSize: row.file_size === null ? null : Number(row.file_size),
  };
}

/**
 * Step 2, in the commit's transaction: makes the chunk valid (or checks it still is), inserts the
 * NAR row with one chunkref to it, and returns the NAR's id; null, with nothing written, when the
 * chunk is no longer usable (a pending row reaped, a valid one tombstoned or found damaged).
 */
export async function linkWholeChunk(tx: Executor, chunk: WholeChunk, nar: WholeNar): Promise<number | null> {
  if (isSqlite(tx)) {
    const [usable] = chunk.fresh
      ? await sqliteRows(tx, SQLITE.validate, [chunk.id, chunk.fileHash, chunk.fileSize])
      : await sqliteRows(tx, SQLITE.check, [chunk.id]);
    if (!usable) return null;
    const [row] = await sqliteRows<{ id: number | string }>(tx, SQLITE.nar, [
      nar.state,
      nar.narHash,
      nar.narSize,
      nar.compression,
    ]);
    if (!row) throw new Error("linkWholeChunk inserted no NAR row");
    await sqliteRows(tx, SQLITE.chunkref, [row.id, chunk.id]);
    return Number(row.id);
  }
  const params: unknown[] = [chunk.id, nar.state, nar.narHash, nar.narSize, nar.compression];
  if (chunk.fresh) params.push(chunk.fileHash, chunk.fileSize);
  const text = chunk.fresh ? LINK_FRESH_SQL : LINK_EXISTING_SQL;
  const [row] = await rawRows<{ id: number | string }>(tx, text, params);
  return row ? Number(row.id) : null;
}

/**
 * Gives up a reserved row whose commit did not happen: a row still pending becomes a GC tombstone
 * (`D`), so its file is collected even if the caller dies before deleting it. False when the row is
 * no longer pending (reaped by GC, or valid because the commit did happen after all): then it is not
 * the caller's to remove.
 */
export async function abandonPendingChunk(db: Executor, id: number): Promise<boolean> {
  const rows = await rawRows(db, "UPDATE chunk SET state = 'D' WHERE id = $1 AND state = 'P' RETURNING id", [
    id,
  ]);
  return rows.length > 0;
}
