/**
 * NAR rows and their `holders_count` lease (attic `database/mod.rs`: `find_and_lock_nar`, and
 * `NarGuard`, which gives the lease back when an upload ends). A held NAR is never reaped by GC, which
 * protects it between dedup and the commit of the object that references it.
 */
import { eq, sql } from "drizzle-orm";
import type { Db } from "../client.ts";
import { isSqlite } from "../dialect.ts";
import { type NarRow, type NarState, nar } from "../schema.ts";
import { toDate, toDateOrNull } from "../sqlite-values.ts";
import { type Executor, ormOf, rawRows } from "./executor.ts";

export interface NewNar {
  state: NarState;
  narHash: string;
  narSize: number;
  compression: string;
  numChunks: number;
  holdersCount?: number;
}

/**
 * Takes a lease on one valid, complete NAR with this hash (`sha256:<hex>`), or returns null.
 * Rows another transaction is locking right now are skipped rather than waited for; the caller then
 * uploads its own copy, which atticd tolerates by design. Every attic upload runs it first, so it is
 * a plain statement (`rawRows`), not built through the ORM.
 */
export async function findAndLockNar(db: Executor, narHash: string): Promise<NarRow | null> {
  const [row] = isSqlite(db)
    ? await rawRows<NarRowText>(db, FIND_AND_LOCK_NAR_SQLITE, [narHash])
    : await rawRows<NarRowText>(db, FIND_AND_LOCK_NAR_SQL, [narHash], "garret_find_and_lock_nar");
  return row === undefined ? null : narRowOf(row);
}

// Complete = no chunkref lost its chunk (chunk deleted → chunk_id SET NULL) or points at one that is
// no longer valid (tombstoned by GC, or found damaged on a read: markChunksDamaged). SQLite has one
// writer at a time: the update is the lock there.
const FIND_AND_LOCK_NAR_SQL = `
  UPDATE nar SET holders_count = holders_count + 1, leased_at = now()
  WHERE id IN (
    SELECT n.id FROM nar n
    WHERE n.nar_hash = $1 AND n.state = 'V'
      AND NOT EXISTS (
        SELECT 1 FROM chunkref r LEFT JOIN chunk c ON c.id = r.chunk_id
        WHERE r.nar_id = n.id AND (r.chunk_id IS NULL OR c.state <> 'V'))
    LIMIT 1 FOR UPDATE SKIP LOCKED)
  RETURNING id, state, nar_hash, nar_size, compression, holders_count, created_at, num_chunks, leased_at`;

const FIND_AND_LOCK_NAR_SQLITE = FIND_AND_LOCK_NAR_SQL.replace(" FOR UPDATE SKIP LOCKED", "");

interface NarRowText extends Record<string, unknown> {
  id: number | string;
  state: NarState;
  nar_hash: string;
  nar_size: number | string;
  compression: string;
  holders_count: number | string;
  created_at: Date | string;
  num_chunks: number | string;
  leased_at: Date | string | null;
}

function narRowOf(r: NarRowText): NarRow {
  return {
    id: Number(r.id),
    state: r.state,
    narHash: r.nar_hash,
    narSize: Number(r.nar_size),
    compression: r.compression,
    holdersCount: Number(r.holders_count),
    createdAt: toDate(r.created_at),
    numChunks: Number(r.num_chunks),
    leasedAt: toDateOrNull(r.leased_at),
  };
}

/** Gives back one lease; never goes below zero. */
export async function releaseNar(db: Executor, id: number): Promise<void> {
  await ormOf(db)
    .update(nar)
    .set({ holdersCount: sql`GREATEST(${nar.holdersCount} - 1, 0)` })
    .where(eq(nar.id, id));
}

export async function insertNar(db: Executor, input: NewNar): Promise<NarRow> {
  const rows = await ormOf(db)
    .insert(nar)
    .values({
      state: input.state,
      narHash: input.narHash,
      narSize: input.narSize,
      compression: input.compression,
      numChunks: input.numChunks,
      holdersCount: input.holdersCount ?? 0,
      createdAt: sql`now()`,
    })
    .returning();
  const row = rows[0];
  if (!row) throw new Error("insertNar returned no row");
  return row;
}

/** Marks a pending NAR valid once all its chunkrefs exist; false if the row is gone. */
export async function validateNar(db: Executor, id: number, numChunks: number): Promise<boolean> {
  const rows = await ormOf(db)
    .update(nar)
    .set({ state: "V", numChunks })
    .where(eq(nar.id, id))
    .returning({ id: nar.id });
  return rows.length > 0;
}

/**
 * `garretadm check --repair`: deletes broken NARs (objects and chunkrefs cascade) and tombstones bad
 * chunks (GC deletes their files), in one transaction.
 */
export async function removeFromIndex(db: Db, narIds: number[], chunkIds: number[]): Promise<void> {
  await db.withSession((s) =>
    s.transaction(async (tx) => {
      const ids = tx.dialect === "sqlite" ? "IN (SELECT value FROM json_each($1))" : "= ANY($1::bigint[])";
      await tx.query(`DELETE FROM nar WHERE id ${ids}`, [narIds]);
      await tx.query(`UPDATE chunk SET state = 'D' WHERE id ${ids}`, [chunkIds]);
    }),
  );
}

/** Deletes the NAR; its chunkrefs and any objects pointing at it cascade. */
export async function deleteNar(db: Executor, id: number): Promise<boolean> {
  const rows = await ormOf(db).delete(nar).where(eq(nar.id, id)).returning({ id: nar.id });
  return rows.length > 0;
}
