/**
 * Migration 0008's triggers and `Db.listen`: which writes notify `garret_changes` (changes that can
 * make a memoised narinfo or cache row wrong) and which do not (inserts of objects, bookkeeping
 * updates), whoever makes them; a Postgres listener that loses its connection says so and comes
 * back; an SQLite listener reports what another connection (another process) commits to the file.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { createTestCache, createValidNar, randomStorePathHash } from "../../../test/support/db-rows.ts";
import { describeEachDb } from "../../../test/support/postgres.ts";
import { createDb, type Db } from "./client.ts";
import { migrate } from "./migrate.ts";
import { upsertObject } from "./queries/objects.ts";

const CHANNEL = "garret_changes";

interface Recorder {
  payloads: string[];
  states: boolean[];
  /** Waits until a notification with `payload` arrives; returns every payload received before it, in order. */
  next(payload: string): Promise<string[]>;
  stop(): Promise<void>;
}

async function record(db: Db): Promise<Recorder> {
  const payloads: string[] = [];
  const states: boolean[] = [];
  let waiter: { payload: string; resolve: () => void } | undefined;
  let consumed = 0;
  const stop = await db.listen(CHANNEL, {
    onNotify(payload) {
      payloads.push(payload);
      if (waiter && payload === waiter.payload) waiter.resolve();
    },
    onState(listening) {
      states.push(listening);
    },
  });
  return {
    payloads,
    states,
    async next(payload) {
      if (!payloads.slice(consumed).includes(payload)) {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no "${payload}" notification in 5 s`)), 5000);
          waiter = {
            payload,
            resolve: () => {
              clearTimeout(timer);
              resolve();
            },
          };
        });
      }
      const end = payloads.indexOf(payload, consumed) + 1;
      const seen = payloads.slice(consumed, end);
      consumed = end;
      return seen;
    },
    stop,
  };
}

/** A cache UPDATE notifies `cache`: used as a marker after writes that must not notify. */
async function marker(db: Db, cacheId: number): Promise<void> {
  await db.query("UPDATE cache SET priority = priority WHERE id = $1", [cacheId]);
}

describeEachDb("change notifications", (getDb, kind) => {
  it("notify on object changes and deletions, not on inserts or last_accessed_at", async () => {
    const db = getDb();
    const cache = await createTestCache(db);
    const rec = await record(db);
    try {
      expect(rec.states).toEqual([true]);
      const { nar } = await createValidNar(db);
      const hash = randomStorePathHash();
      const input = {
        cacheId: cache.id,
        narId: nar.id,
        storePathHash: hash,
        storePath: `/nix/store/${hash}-x`,
        references: [],
        deriver: null,
        sigs: [],
        ca: null,
        createdBy: null,
      };
      await upsertObject(db, input);
      await db.query("UPDATE object SET last_accessed_at = now() WHERE store_path_hash = $1", [hash]);
      await db.query("DELETE FROM object WHERE store_path_hash = $1", ["no-such-hash"]);
      await marker(db, cache.id);
      expect(await rec.next("cache")).toEqual(["cache"]);

      // The same path uploaded again replaces the row (INSERT … ON CONFLICT DO UPDATE).
      await upsertObject(db, input);
      expect(await rec.next("object")).toEqual(["object"]);
      await db.query(`UPDATE object SET sigs = '["k:s"]' WHERE store_path_hash = $1`, [hash]);
      expect(await rec.next("object")).toEqual(["object"]);
      await db.query("DELETE FROM object WHERE store_path_hash = $1", [hash]);
      expect(await rec.next("object")).toEqual(["object"]);
    } finally {
      await rec.stop();
    }
  });

  it("notify when a valid NAR stops being valid, not on leases or validation", async () => {
    const db = getDb();
    const cache = await createTestCache(db);
    const { nar } = await createValidNar(db);
    const rec = await record(db);
    try {
      await db.query("UPDATE nar SET holders_count = holders_count + 1, leased_at = now() WHERE id = $1", [
        nar.id,
      ]);
      await db.query("UPDATE nar SET state = 'V' WHERE id = $1", [nar.id]);
      await marker(db, cache.id);
      expect(await rec.next("cache")).toEqual(["cache"]);
      await db.query("UPDATE nar SET state = 'D' WHERE id = $1", [nar.id]);
      expect(await rec.next("object")).toEqual(["object"]);
      await db.query("DELETE FROM nar WHERE id = $1", [nar.id]);
      await marker(db, cache.id);
      expect(await rec.next("cache")).toEqual(["cache"]);
    } finally {
      await rec.stop();
    }
  });

  it("notify once per transaction, however many rows it changed", async () => {
    const db = getDb();
    const cache = await createTestCache(db);
    const rec = await record(db);
    try {
      await db.withSession((s) =>
        s.transaction(async (tx) => {
          await tx.query("UPDATE cache SET priority = 40 WHERE id = $1", [cache.id]);
          await tx.query("UPDATE cache SET priority = 41 WHERE id = $1", [cache.id]);
        }),
      );
      await createTestCache(db);
      expect(await rec.next("cache")).toEqual(["cache"]);
      expect(await rec.next("cache")).toEqual(["cache"]);
      expect(rec.payloads).toEqual(["cache", "cache"]);
    } finally {
      await rec.stop();
    }
  });

  if (kind === "sqlite") {
    it("report the commits of another connection to the same file", async () => {
      const dir = await mkdtemp(join(tmpdir(), "garret-sqlite-feed-"));
      const path = join(dir, "server.db");
      const db = await createDb({ kind: "sqlite", path });
      const other = await createDb({ kind: "sqlite", path });
      try {
        await migrate(db);
        const cache = await createTestCache(db);
        const rec = await record(db);
        try {
          // Its TEMP triggers live in the listening connection only: the other one's writes are
          // seen as a new data_version, reported as a change of both kinds.
          await other.query("UPDATE cache SET priority = 40 WHERE id = $1", [cache.id]);
          expect(await rec.next("cache")).toEqual(["object", "cache"]);
          await marker(db, cache.id);
          expect(await rec.next("cache")).toEqual(["cache"]);
        } finally {
          await rec.stop();
        }
      } finally {
        await other.close();
        await db.close();
        await rm(dir, { recursive: true });
      }
    });
    return;
  }
  it("report a lost connection and listen again", async () => {
    const db = getDb();
    const cache = await createTestCache(db);
    const rec = await record(db);
    try {
      const [killed] = await db.query<{ n: number }>(
        `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
         WHERE application_name = 'garret-listen' AND datname = current_database()`,
        [],
      );
      expect(killed?.n).toBe(1);
      await expect.poll(() => rec.states, { timeout: 10_000 }).toEqual([true, false, true]);
      await marker(db, cache.id);
      expect(await rec.next("cache")).toEqual(["cache"]);
    } finally {
      await rec.stop();
    }
  });
});
