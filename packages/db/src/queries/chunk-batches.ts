/**
 * Set-based versions of the chunk bookkeeping for uploads: one statement leases, inserts or
 * validates a whole batch of chunks, instead of three round trips per chunk. A 1 GiB NAR is
 * ~16,000 chunks at attic's recommended sizes; per-chunk statements made the database, not
 * compression, the limit on upload speed (especially on SQLite's single connection).
 */
import { sql } from "drizzle-orm";
import type { Db } from "../client.ts";
import { retryOnDeadlock } from "../deadlock-retry.ts";
import { isSqlite, sqliteRows } from "../dialect.ts";
import { chunk } from "../schema.ts";
import type { NewPendingChunk } from "./chunks.ts";
import { type Executor, ormOf } from "./executor.ts";

export interface LeasedChunk {
  id: number;
  chunkHash: string;
  fileSize: number | null;
}

/**
 * For each distinct hash, takes a lease (`holders_count + 1`, `leased_at` now, as every lease: an
 * older time would let GC reset it as abandoned mid-upload) on one valid chunk with that hash and
 * compression. Returns the leased chunks by hash; hashes without a usable chunk are absent.
 *
 * Rows are locked in id order and waited for, not skipped: concurrent uploads of NARs that share
 * chunks (or a NAR repeating a chunk across batches) would otherwise miss each other's locked rows
 * and store duplicates, and one lock order for every multi-row lease statement (`releaseChunks`
 * too) rules out deadlocks between them. Leases take `FOR NO KEY UPDATE` (they change no key), which
 * does not conflict with the `FOR KEY SHARE` a committing upload holds on its chunks (`lockValidChunks`,
 * and the chunkref foreign-key checks): a stronger lock deadlocked against them. A row GC tombstoned meanwhile no longer matches
 * `state = 'V'` once the lock is granted (Postgres re-checks it), so it is never leased.
 */
export async function findAndLockChunks(
  db: Db,
  hashes: readonly string[],
  compression: string,
): Promise<Map<string, LeasedChunk>> {
  const distinct = [...new Set(hashes)];
  const found = new Map<string, LeasedChunk>();
  if (distinct.length === 0) return found;
  type Row = { id: number | string; chunk_hash: string; file_size: number | string | null };
  const rows = isSqlite(db)
    ? await sqliteRows<Row>(db, SQLITE.findAndLock, [distinct, compression])
    : await retryOnDeadlock(() =>
        db.query<Row>(FIND_AND_LOCK_SQL, [distinct, compression], "garret_find_and_lock_chunks"),
      );
  for (const row of rows) {
    found.set(row.chunk_hash, {
      id: Number(row.id),
      chunkHash: row.chunk_hash,
      fileSize: row.file_size === null ? null : Number(row.file_size),
    });
  }
  return found;
}

// The three statements of every upload batch are plain prepared statements: building them through
// the ORM cost the upload's main thread about a tenth of its time.
const FIND_AND_LOCK_SQL = `
  WITH candidates AS (
    SELECT DISTINCT ON (c.chunk_hash) c.id FROM chunk c
    WHERE c.chunk_hash = ANY($1::text[]) AND c.compression = $2 AND c.state = 'V'
    ORDER BY c.chunk_hash, c.id
  ), picked AS (
    SELECT c.id FROM chunk c
    WHERE c.id IN (SELECT id FROM candidates) AND c.state = 'V'
    ORDER BY c.id FOR NO KEY UPDATE
  )
  UPDATE chunk SET holders_count = chunk.holders_count + 1, leased_at = now()
  FROM picked WHERE chunk.id = picked.id
  RETURNING chunk.id AS id, chunk.chunk_hash AS chunk_hash, chunk.file_size AS file_size`;

const INSERT_PENDING_SQL = `
  INSERT INTO chunk (state, chunk_hash, chunk_size, compression, remote_file, remote_file_id, holders_count, created_at)
  SELECT 'P', u.chunk_hash, u.chunk_size, u.compression, u.remote_file, u.remote_file_id, 0, now()
  FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[])
    AS u(chunk_hash, chunk_size, compression, remote_file, remote_file_id)
  RETURNING id, remote_file_id`;

const VALIDATE_SQL = `
  UPDATE chunk SET state = 'V', file_hash = v.file_hash, file_size = v.file_size, holders_count = 1,
    leased_at = now()
  FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS v(id, file_hash, file_size)
  WHERE chunk.id = v.id AND chunk.state = 'P'
  RETURNING chunk.id`;

/**
 * SQLite's texts: arrays arrive as JSON text, and one writer at a time makes the row locks moot.
 * Rows come in with their position (`key`) so the output can be matched back.
 */
const SQLITE = {
  findAndLock: `
    UPDATE chunk SET holders_count = holders_count + 1, leased_at = now()
    WHERE id IN (
      SELECT min(c.id) FROM chunk c
      WHERE c.chunk_hash IN (SELECT value FROM json_each(?1)) AND c.compression = ?2 AND c.state = 'V'
      GROUP BY c.chunk_hash)
    RETURNING id, chunk_hash, file_size`,
  insertPending: `
    INSERT INTO chunk (state, chunk_hash, chunk_size, compression, remote_file, remote_file_id, holders_count, created_at)
    SELECT 'P', u.value ->> '$[0]', u.value ->> '$[1]', u.value ->> '$[2]', u.value ->> '$[3]', u.value ->> '$[4]', 0, now()
    FROM json_each(?1) u ORDER BY u.key
    RETURNING id, remote_file_id`,
  validate: `
    UPDATE chunk SET state = 'V', file_hash = v.value ->> '$[1]', file_size = v.value ->> '$[2]', holders_count = 1,
      leased_at = now()
    FROM json_each(?1) v
    WHERE chunk.id = v.value ->> '$[0]' AND chunk.state = 'P'
    RETURNING chunk.id`,
  delete: "DELETE FROM chunk WHERE id IN (SELECT value FROM json_each(?1))",
} as const;

/** Inserts pending (`P`) chunk rows in one statement; ids come back in input order. */
export async function insertPendingChunks(db: Db, inputs: readonly NewPendingChunk[]): Promise<number[]> {
  if (inputs.length === 0) return [];
  type Row = { id: number | string; remote_file_id: string };
  const rows = isSqlite(db)
    ? await sqliteRows<Row>(db, SQLITE.insertPending, [
        inputs.map((i) => [i.chunkHash, i.chunkSize, i.compression, i.remoteFile, i.remoteFileId]),
      ])
    : await db.query<Row>(
        INSERT_PENDING_SQL,
        [
          inputs.map((i) => i.chunkHash),
          inputs.map((i) => i.chunkSize),
          inputs.map((i) => i.compression),
          inputs.map((i) => i.remoteFile),
          inputs.map((i) => i.remoteFileId),
        ],
        "garret_insert_pending_chunks",
      );
  const byLocation = new Map(rows.map((r) => [r.remote_file_id, Number(r.id)]));
  return inputs.map((input) => {
    const id = byLocation.get(input.remoteFileId);
    if (id === undefined) throw new Error("insertPendingChunks lost a row");
    return id;
  });
}

/**
 * Marks uploaded chunks valid, each with one lease for the uploading request, in one statement.
 * Only rows still pending change: an upload slower than GC's grace period may have had its rows
 * reaped (and files deleted) meanwhile, and must fail rather than resurrect them.
 */
export async function validateChunks(
  db: Db,
  files: ReadonlyArray<{ id: number; fileHash: string; fileSize: number }>,
): Promise<void> {
  if (files.length === 0) return;
  const rows = isSqlite(db)
    ? await sqliteRows(db, SQLITE.validate, [files.map((f) => [f.id, f.fileHash, f.fileSize])])
    : await db.query<{ id: unknown }>(
        VALIDATE_SQL,
        [files.map((f) => f.id), files.map((f) => f.fileHash), files.map((f) => f.fileSize)],
        "garret_validate_chunks",
      );
  if (rows.length !== files.length) {
    throw new Error(
      `${files.length - rows.length} pending chunk rows were reaped before their upload finished`,
    );
  }
}

/** Deletes chunk rows (a failed batch's pending rows) in one statement. */
export async function deleteChunks(db: Executor, ids: readonly number[]): Promise<void> {
  if (ids.length === 0) return;
  if (isSqlite(db)) {
    await sqliteRows(db, SQLITE.delete, [ids]);
    return;
  }
  await ormOf(db).execute(
    sql`DELETE FROM ${chunk} WHERE ${chunk.id} = ANY(${sql.param([...ids])}::bigint[])`,
  );
}
