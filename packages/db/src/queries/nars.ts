/**
 * NAR rows and their `holders_count` lease (attic `database/mod.rs`: `find_and_lock_nar`, and
 * `NarGuard`, which gives the lease back when an upload ends). A held NAR is never reaped by GC, which
 * protects it between dedup and the commit of the object that references it.
 */
import { and, eq, inArray, isNull, ne, notExists, or, sql } from "drizzle-orm";
import type { Db } from "../client.ts";
import { isSqlite } from "../dialect.ts";
import { chunk, chunkref, type NarRow, type NarState, nar } from "../schema.ts";
import { type Executor, ormOf } from "./executor.ts";

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
 * uploads its own copy, which atticd tolerates by design.
 */
export async function findAndLockNar(db: Executor, narHash: string): Promise<NarRow | null> {
  const orm = ormOf(db);
  // Complete = no chunkref lost its chunk (chunk deleted → chunk_id SET NULL) or points at one that
  // is no longer valid (tombstoned by GC, or found damaged on a read: markChunksDamaged).
  const candidate = orm
    .select({ id: nar.id })
    .from(nar)
    .where(
      and(
        eq(nar.narHash, narHash),
        eq(nar.state, "V"),
        notExists(
          orm
            .select({ one: sql`1` })
            .from(chunkref)
            .leftJoin(chunk, eq(chunk.id, chunkref.chunkId))
            .where(and(eq(chunkref.narId, nar.id), or(isNull(chunkref.chunkId), ne(chunk.state, "V")))),
        ),
      ),
    )
    .limit(1);
  // SQLite has one writer at a time: the update below is the lock.
  if (!isSqlite(db)) candidate.for("update", { skipLocked: true });
  const rows = await orm
    .update(nar)
    .set({ holdersCount: sql`${nar.holdersCount} + 1`, leasedAt: sql`now()` })
    .where(inArray(nar.id, candidate))
    .returning();
  return rows[0] ?? null;
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
