/**
 * Abandoned upload leases. `holders_count` (atticd's lease count) is only given back by the process
 * that took it; one killed mid-upload leaves it raised forever and GC would keep the row forever.
 * Every lease records when it was last taken or refreshed (`leased_at`, migration 0007), and an upload
 * refreshes its leases while bytes flow (`refreshLeases`), so a count whose latest lease is older
 * than GC's pending grace period belongs to nobody.
 *
 * A count without a time (taken by atticd, which does not know the column) gets one when GC first
 * sees it, so it too is reset a grace period later. Reset rows are queued as GC candidates: they may
 * have lost their last reference while held.
 *
 *   UPDATE chunk SET holders_count = 0 WHERE holders_count > 0 AND leased_at < now() - '6 hours'
 */
import { sql } from "drizzle-orm";
import type { SqlSession } from "../client.ts";
import { isSqlite, sqliteRows } from "../dialect.ts";
import { type Executor, ormOf } from "./executor.ts";

export const LEASE_SQL = {
  stampNars: "UPDATE nar SET leased_at = now() WHERE holders_count > 0 AND leased_at IS NULL",
  stampChunks: "UPDATE chunk SET leased_at = now() WHERE holders_count > 0 AND leased_at IS NULL",
  resetNars: `
    WITH reset AS (
      UPDATE nar SET holders_count = 0
      WHERE holders_count > 0 AND leased_at < $1::timestamptz
      RETURNING id, state),
    queued AS (
      INSERT INTO garret_gc_nar_candidate (nar_id) SELECT id FROM reset WHERE state = 'V'
      ON CONFLICT DO NOTHING)
    SELECT count(*)::int AS n FROM reset`,
  resetChunks: `
    WITH reset AS (
      UPDATE chunk SET holders_count = 0
      WHERE holders_count > 0 AND leased_at < $1::timestamptz
      RETURNING id, state),
    queued AS (
      INSERT INTO garret_gc_chunk_candidate (chunk_id) SELECT id FROM reset WHERE state = 'V'
      ON CONFLICT DO NOTHING)
    SELECT count(*)::int AS n FROM reset`,
} as const;

/** SQLite has no data-modifying CTEs: queue the rows first, then reset them, in one transaction. */
const SQLITE_LEASE_SQL = {
  queueNars: `INSERT OR IGNORE INTO garret_gc_nar_candidate (nar_id)
    SELECT id FROM nar WHERE holders_count > 0 AND leased_at < ?1 AND state = 'V'`,
  resetNars: "UPDATE nar SET holders_count = 0 WHERE holders_count > 0 AND leased_at < ?1 RETURNING id",
  queueChunks: `INSERT OR IGNORE INTO garret_gc_chunk_candidate (chunk_id)
    SELECT id FROM chunk WHERE holders_count > 0 AND leased_at < ?1 AND state = 'V'`,
  resetChunks: "UPDATE chunk SET holders_count = 0 WHERE holders_count > 0 AND leased_at < ?1 RETURNING id",
} as const;

/** Resets leases last taken before `cutoff`; returns how many NAR and chunk rows were reset. */
export async function resetAbandonedLeases(
  session: SqlSession,
  cutoff: Date,
): Promise<{ nars: number; chunks: number }> {
  await session.query(LEASE_SQL.stampNars);
  await session.query(LEASE_SQL.stampChunks);
  if (session.dialect === "sqlite") {
    return session.transaction(async (tx) => {
      await tx.query(SQLITE_LEASE_SQL.queueNars, [cutoff]);
      const nars = await tx.query(SQLITE_LEASE_SQL.resetNars, [cutoff]);
      await tx.query(SQLITE_LEASE_SQL.queueChunks, [cutoff]);
      const chunks = await tx.query(SQLITE_LEASE_SQL.resetChunks, [cutoff]);
      return { nars: nars.length, chunks: chunks.length };
    });
  }
  const [nars] = await session.query<{ n: number }>(LEASE_SQL.resetNars, [cutoff]);
  const [chunks] = await session.query<{ n: number }>(LEASE_SQL.resetChunks, [cutoff]);
  return { nars: Number(nars?.n ?? 0), chunks: Number(chunks?.n ?? 0) };
}

/**
 * An upload still receiving bytes refreshes the leases it holds (and the time of the pending chunk
 * row it is streaming into), so GC does not take it for one that died. Rows are locked in id order
 * like every lease statement, with the lock a chunkref insert does not wait for.
 */
export async function refreshLeases(
  db: Executor,
  held: { chunks?: number[]; nars?: number[] },
): Promise<void> {
  const chunks = [...new Set(held.chunks ?? [])];
  const nars = [...new Set(held.nars ?? [])];
  if (isSqlite(db)) {
    if (chunks.length > 0) {
      await sqliteRows(
        db,
        "UPDATE chunk SET leased_at = now() WHERE id IN (SELECT value FROM json_each(?1)) AND state IN ('P', 'V')",
        [chunks],
      );
    }
    if (nars.length > 0) {
      await sqliteRows(db, "UPDATE nar SET leased_at = now() WHERE id IN (SELECT value FROM json_each(?1))", [
        nars,
      ]);
    }
    return;
  }
  const orm = ormOf(db);
  if (chunks.length > 0) {
    await orm.execute(sql`
      UPDATE chunk SET leased_at = now() WHERE id IN (
        SELECT id FROM chunk WHERE id = ANY(${sql.param(chunks)}::bigint[]) AND state IN ('P', 'V')
        ORDER BY id FOR NO KEY UPDATE)`);
  }
  if (nars.length > 0) {
    await orm.execute(sql`
      UPDATE nar SET leased_at = now() WHERE id IN (
        SELECT id FROM nar WHERE id = ANY(${sql.param(nars)}::bigint[]) ORDER BY id FOR NO KEY UPDATE)`);
  }
}
