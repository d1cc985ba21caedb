/** Abandoned leases: only counts whose latest lease is older than the cutoff are reset and queued. */
import { expect, it } from "vitest";
import { createValidNar } from "../../../../test/support/db-rows.ts";
import { describeEachDb } from "../../../../test/support/postgres.ts";
import { toDate } from "../sqlite-values.ts";
import { findAndLockChunks } from "./chunk-batches.ts";
import { findAndLockChunk } from "./chunks.ts";
import { resetAbandonedLeases } from "./leases.ts";
import { findAndLockNar } from "./nars.ts";

describeEachDb("abandoned upload leases", (getDb) => {
  it("resets leases taken before the cutoff, keeps newer ones, and queues the reset rows for GC", async () => {
    const db = getDb();
    const old = await createValidNar(db, { chunkCount: 1 });
    const fresh = await createValidNar(db, { chunkCount: 1 });
    const oldChunk = old.chunks[0];
    if (!oldChunk) throw new Error("createValidNar made no chunk");
    await findAndLockNar(db, old.nar.narHash);
    await findAndLockChunk(db, oldChunk.chunkHash, oldChunk.compression);
    await findAndLockNar(db, fresh.nar.narHash);
    const read = (id: number, table: "nar" | "chunk") =>
      db.withSession(async (s) => {
        const [row] = await s.query<{ holders_count: number; leased_at: Date | null }>(
          `SELECT holders_count, leased_at FROM ${table} WHERE id = $1`,
          [id],
        );
        return row;
      });
    // The first two leases are backdated past the grace period: their process died long ago.
    await db.withSession(async (s) => {
      const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
      await s.query("UPDATE nar SET leased_at = $2 WHERE id = $1", [old.nar.id, twoHoursAgo]);
      await s.query("UPDATE chunk SET leased_at = $2 WHERE id = $1", [oldChunk.id, twoHoursAgo]);
      await s.exec("DELETE FROM garret_gc_nar_candidate; DELETE FROM garret_gc_chunk_candidate");
    });
    expect(toDate((await read(fresh.nar.id, "nar"))?.leased_at).getTime()).toBeGreaterThan(
      Date.now() - 60_000,
    );

    const reset = await db.withSession((s) => resetAbandonedLeases(s, new Date(Date.now() - 3600_000)));
    expect(reset).toEqual({ nars: 1, chunks: 1 });
    expect((await read(old.nar.id, "nar"))?.holders_count).toBe(0);
    expect((await read(oldChunk.id, "chunk"))?.holders_count).toBe(0);
    expect((await read(fresh.nar.id, "nar"))?.holders_count).toBe(1);
    const queued = await db.withSession(async (s) => ({
      nars: (await s.query<{ nar_id: number }>("SELECT nar_id FROM garret_gc_nar_candidate")).map((r) =>
        Number(r.nar_id),
      ),
      chunks: (await s.query<{ chunk_id: number }>("SELECT chunk_id FROM garret_gc_chunk_candidate")).map(
        (r) => Number(r.chunk_id),
      ),
    }));
    expect(queued).toEqual({ nars: [old.nar.id], chunks: [oldChunk.id] });
    expect(await db.withSession((s) => resetAbandonedLeases(s, new Date(Date.now() - 3600_000)))).toEqual({
      nars: 0,
      chunks: 0,
    });
  });

  it("starts the clock on a lease without a time (taken by atticd) instead of resetting it", async () => {
    const db = getDb();
    const { nar } = await createValidNar(db, { chunkCount: 1 });
    await db.withSession((s) =>
      s.query("UPDATE nar SET holders_count = 1, leased_at = NULL WHERE id = $1", [nar.id]),
    );
    const cutoff = new Date(Date.now() - 60_000);
    expect((await db.withSession((s) => resetAbandonedLeases(s, cutoff))).nars).toBe(0);
    const [row] = await db.withSession((s) =>
      s.query<{ holders_count: number; leased_at: Date | string | null }>(
        "SELECT holders_count, leased_at FROM nar WHERE id = $1",
        [nar.id],
      ),
    );
    expect(row?.holders_count).toBe(1);
    expect(toDate(row?.leased_at).getTime()).toBeGreaterThan(Date.now() - 60_000);
    await db.withSession((s) => resetAbandonedLeases(s, new Date(Date.now() + 60_000)));
    const [after] = await db.withSession((s) =>
      s.query<{ holders_count: number }>("SELECT holders_count FROM nar WHERE id = $1", [nar.id]),
    );
    expect(after?.holders_count).toBe(0);
  });

  it("an upload batch's lease on chunks it deduplicates against restarts their clock, as every lease does", async () => {
    const db = getDb();
    const { chunks } = await createValidNar(db, { chunkCount: 2 });
    const ids = chunks.map((c) => c.id);
    // Validated long ago, released since: a later upload that reuses them takes a fresh lease.
    await db.withSession((s) =>
      s.query("UPDATE chunk SET leased_at = $3 WHERE id IN ($1, $2)", [
        ids[0],
        ids[1],
        new Date(Date.now() - 2 * 3600_000),
      ]),
    );
    const leased = await findAndLockChunks(
      db,
      chunks.map((c) => c.chunkHash),
      "zstd",
    );
    expect([...leased.values()].map((c) => c.id).sort((a, b) => a - b)).toEqual(ids);
    await db.withSession((s) => resetAbandonedLeases(s, new Date(Date.now() - 3600_000)));
    const rows = await db.withSession((s) =>
      s.query<{ holders_count: number; leased_at: Date | string | null }>(
        "SELECT holders_count, leased_at FROM chunk WHERE id IN ($1, $2)",
        ids,
      ),
    );
    expect(rows.map((r) => r.holders_count)).toEqual([1, 1]);
    for (const r of rows) expect(toDate(r.leased_at).getTime()).toBeGreaterThan(Date.now() - 60_000);
  });
});
