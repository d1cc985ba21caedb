/**
 * Chunk rows, their `holders_count` lease, and chunkrefs (attic `database/mod.rs`:
 * `find_and_lock_chunk`, `ChunkGuard`, and the chunk bookkeeping of `api/v1/upload_path.rs`).
 * A chunk row is written as `P` before its file exists and becomes `V` once the file is complete.
 */
import { and, eq, inArray, sql } from "drizzle-orm";
import { retryOnDeadlock } from "../deadlock-retry.ts";
import { isSqlite, sqliteRows } from "../dialect.ts";
import { type ChunkRow, chunk } from "../schema.ts";
import { type Executor, ormOf, rawRows, rowsOf } from "./executor.ts";

export interface NewPendingChunk {
  /** `sha256:<hex>` of the uncompressed chunk. */
  chunkHash: string;
  chunkSize: number;
  compression: string;
  /** Externally tagged JSON, e.g. `{"Local":{"name":"<uuid>.chunk"}}`. */
  remoteFile: string;
  /** Unique location key, e.g. `local:<uuid>.chunk`. */
  remoteFileId: string;
}

export interface ChunkRefInput {
  seq: number;
  chunkId: number;
}

/** Whether the database records any chunk at all (garretd's start-up check against its storage). */
export async function hasAnyChunk(db: Executor): Promise<boolean> {
  const rows = await ormOf(db).select({ id: chunk.id }).from(chunk).limit(1);
  return rows.length > 0;
}

/**
 * Takes a lease on one valid chunk with this hash stored with this compression, or returns null.
 * Chunks stored with another compression are not reused: a NAR's chunks must share its compression.
 */
export async function findAndLockChunk(
  db: Executor,
  chunkHash: string,
  compression: string,
): Promise<ChunkRow | null> {
  const orm = ormOf(db);
  const candidate = orm
    .select({ id: chunk.id })
    .from(chunk)
    .where(and(eq(chunk.chunkHash, chunkHash), eq(chunk.compression, compression), eq(chunk.state, "V")))
    .limit(1);
  // SQLite has one writer at a time: the update below is the lock.
  if (!isSqlite(db)) candidate.for("update", { skipLocked: true });
  const rows = await orm
    .update(chunk)
    .set({ holdersCount: sql`${chunk.holdersCount} + 1`, leasedAt: sql`now()` })
    .where(inArray(chunk.id, candidate))
    .returning();
  return rows[0] ?? null;
}

export async function insertPendingChunk(db: Executor, input: NewPendingChunk): Promise<ChunkRow> {
  const rows = await ormOf(db)
    .insert(chunk)
    .values({ ...input, state: "P", holdersCount: 0, createdAt: sql`now()` })
    .returning();
  const row = rows[0];
  if (!row) throw new Error("insertPendingChunk returned no row");
  return row;
}

/**
 * Marks an uploaded chunk valid and gives the uploading request its lease (holders_count = 1),
 * to be released with `releaseChunks` once its chunkref is committed. Null if the row is gone.
 * `chunkHash` sets the content hash of a chunk whose content was not known when its row was
 * inserted (a whole NAR streamed to storage as it arrives).
 */
export async function validateChunk(
  db: Executor,
  id: number,
  file: { fileHash: string; fileSize: number; chunkHash?: string; chunkSize?: number },
): Promise<ChunkRow | null> {
  const rows = await ormOf(db)
    .update(chunk)
    .set({
      ...(file.chunkHash === undefined ? {} : { chunkHash: file.chunkHash }),
      ...(file.chunkSize === undefined ? {} : { chunkSize: file.chunkSize }),
      state: "V",
      fileHash: file.fileHash,
      fileSize: file.fileSize,
      holdersCount: 1,
      leasedAt: sql`now()`,
    })
    .where(and(eq(chunk.id, id), eq(chunk.state, "P")))
    .returning();
  return rows[0] ?? null;
}

/**
 * Gives back one lease per listed id (an id listed twice loses two); never below zero. Rows are
 * locked in id order, the order `findAndLockChunks` uses, so concurrent lease statements cannot
 * deadlock.
 */
export async function releaseChunks(db: Executor, ids: number[]): Promise<void> {
  if (ids.length === 0) return;
  if (isSqlite(db)) {
    await sqliteRows(
      db,
      `UPDATE chunk SET holders_count = max(holders_count - r.n, 0)
       FROM (SELECT value AS id, count(*) AS n FROM json_each(?1) GROUP BY value) AS r
       WHERE chunk.id = r.id`,
      [ids],
    );
    return;
  }
  await retryOnDeadlock(() =>
    ormOf(db).execute(sql`
    UPDATE ${chunk} SET holders_count = GREATEST(${chunk.holdersCount} - r.n, 0)
    FROM (SELECT id, count(*) AS n FROM unnest(${sql.param(ids)}::bigint[]) AS u(id) GROUP BY id) AS r
    WHERE ${chunk.id} = r.id AND ${chunk.id} IN (
      SELECT id FROM ${chunk} WHERE id = ANY(${sql.param(ids)}::bigint[]) ORDER BY id FOR NO KEY UPDATE)`),
  );
}

/**
 * Marks valid chunks whose stored file turned out damaged (shorter or longer than the row says) as
 * GC tombstones (`D`): dedup stops reusing them, NARs that use them stop counting as complete (so an
 * upload of the same NAR stores a fresh copy instead of deduplicating against the damaged one), and
 * GC deletes the file and the row. Returns how many were marked.
 */
export async function markChunksDamaged(db: Executor, ids: readonly number[]): Promise<number> {
  if (ids.length === 0) return 0;
  const rows = await ormOf(db)
    .update(chunk)
    .set({ state: "D" })
    .where(and(inArray(chunk.id, [...ids]), eq(chunk.state, "V")))
    .returning({ id: chunk.id });
  return rows.length;
}

/** Deletes the chunk row; chunkrefs pointing at it get chunk_id NULL (their NARs become incomplete). */
export async function deleteChunk(db: Executor, id: number): Promise<boolean> {
  const rows = await ormOf(db).delete(chunk).where(eq(chunk.id, id)).returning({ id: chunk.id });
  return rows.length > 0;
}

/**
 * Of the given chunk ids, those that are no longer valid (tombstoned by GC or marked damaged, or
 * gone); the valid ones stay locked against GC until the transaction ends (GC skips locked rows).
 * Run in the transaction that inserts chunkrefs to them, before the insert. Rows are locked in id
 * order, like the lease statements, which take `FOR NO KEY UPDATE` so they never wait on this lock.
 */
export async function lockValidChunks(tx: Executor, ids: readonly number[]): Promise<number[]> {
  const wanted = [...new Set(ids)];
  if (wanted.length === 0) return [];
  const rows = isSqlite(tx)
    ? await sqliteRows<{ id: number | string }>(
        tx,
        "SELECT id FROM chunk WHERE id IN (SELECT value FROM json_each(?1)) AND state = 'V'",
        [wanted],
      )
    : rowsOf<{ id: number | string }>(
        await ormOf(tx).execute(
          sql`SELECT id FROM ${chunk} WHERE id = ANY(${sql.param(wanted)}::bigint[]) AND state = 'V' ORDER BY id FOR KEY SHARE`,
        ),
      );
  const valid = new Set(rows.map((r) => Number(r.id)));
  return wanted.filter((id) => !valid.has(id));
}

/**
 * Links chunks to a NAR in one statement, the refs as arrays (Postgres) or JSON (SQLite): a 1 GiB
 * NAR has ~16,000, and ORM-built inserts of them held the main thread for most of its commit.
 */
export async function insertChunkRefs(db: Executor, narId: number, refs: ChunkRefInput[]): Promise<void> {
  if (refs.length === 0) return;
  if (isSqlite(db)) {
    await sqliteRows(
      db,
      `INSERT INTO chunkref (nar_id, seq, chunk_id)
       SELECT ?1, r.value ->> '$[0]', r.value ->> '$[1]' FROM json_each(?2) r`,
      [narId, JSON.stringify(refs.map((r) => [r.seq, r.chunkId]))],
    );
    return;
  }
  await rawRows(
    db,
    `INSERT INTO chunkref (nar_id, seq, chunk_id)
     SELECT $1::bigint, u.seq, u.chunk_id FROM unnest($2::int[], $3::bigint[]) AS u(seq, chunk_id)`,
    [narId, refs.map((r) => r.seq), refs.map((r) => r.chunkId)],
    "garret_insert_chunkrefs",
  );
}
