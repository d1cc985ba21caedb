/**
 * createDb on both drivers: bigint handling, transactions, sessions, failure behaviour of the pool,
 * and an SQLite file's connection settings and `mode`.
 */
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import pg from "pg";
import { expect, it } from "vitest";
import { randomHex } from "../../../test/support/db-rows.ts";
import { createTestDatabase, describeEachDb } from "../../../test/support/postgres.ts";
import { createDb } from "./client.ts";
import { migrate } from "./migrate.ts";
import { findCache, insertCache } from "./queries/caches.ts";

const cacheInput = (name: string) => ({
  name,
  keypair: "k",
  isPublic: false,
  storeDir: "/nix/store",
  priority: 41,
  upstreamCacheKeyNames: [],
});

describeEachDb("createDb", (getDb, kind) => {
  it("answers ping and reports its kind", async () => {
    await getDb().ping();
    expect(getDb().kind).toBe(kind);
  });

  it("returns bigint values as numbers from drizzle and from raw sessions", async () => {
    const big = 2 ** 40 + 3;
    const [raw] = await getDb().withSession((s) => s.query<{ n: unknown }>(`SELECT ${big} AS n`));
    expect(raw?.n).toBe(big);
    const [viaOrm] = await getDb()
      .orm.select({ n: sql<number>`${sql.raw(String(big))}`.mapWith(Number) })
      .from(sql`(SELECT 1) AS t`);
    expect(viaOrm?.n).toBe(big);
  });

  it("rolls a failed transaction back", async () => {
    const name = `tx-${randomHex(4)}`;
    await expect(
      getDb().transaction(async (tx) => {
        await insertCache(tx, cacheInput(name));
        expect(await findCache(tx, name)).not.toBeNull();
        throw new Error("abort");
      }),
    ).rejects.toThrow("abort");
    expect(await findCache(getDb(), name)).toBeNull();
    await getDb().transaction((tx) => insertCache(tx, cacheInput(name)));
    expect(await findCache(getDb(), name)).not.toBeNull();
  });

  it("rolls a failed session transaction back and keeps the session usable", async () => {
    const name = `stx-${randomHex(4)}`;
    await getDb().withSession(async (s) => {
      await expect(
        s.transaction(async (tx) => {
          await tx.query(
            "INSERT INTO cache (name, keypair, is_public, store_dir, priority, upstream_cache_key_names, created_at) VALUES ($1, 'k', false, '/nix/store', 1, '[]', now())",
            [name],
          );
          await tx.exec("SELECT 1; SELECT 2");
          throw new Error("abort");
        }),
      ).rejects.toThrow("abort");
      expect(await s.query("SELECT 1 AS one")).toEqual([{ one: 1 }]);
    });
    expect(await findCache(getDb(), name)).toBeNull();
  });

  if (kind === "sqlite") {
    it("opens a file with atticd's settings; mode=rw refuses a missing file and creates nothing", async () => {
      const dir = await mkdtemp(join(tmpdir(), "garret-sqlite-open-"));
      const path = join(dir, "server.db");
      try {
        await expect(createDb({ kind: "sqlite", path, mode: "rw" })).rejects.toThrow(
          `the SQLite database ${path} does not exist (mode=rw); use mode=rwc to create it`,
        );
        expect(await readdir(dir)).toEqual([]);
        const db = await createDb({ kind: "sqlite", path });
        try {
          const pragma = async (name: string) =>
            Object.values((await db.withSession((s) => s.query(`PRAGMA ${name}`)))[0] ?? {})[0];
          expect(await pragma("journal_mode")).toBe("wal");
          expect(await pragma("synchronous")).toBe(1); // normal
          expect(await pragma("foreign_keys")).toBe(1);
          expect(await pragma("busy_timeout")).toBe(5000);
        } finally {
          await db.close();
        }
        const reopened = await createDb({ kind: "sqlite", path, mode: "rw" });
        await reopened.ping();
        await reopened.close();
      } finally {
        await rm(dir, { recursive: true });
      }
    });
  }

  if (kind === "postgres") {
    it("survives the server closing its connections", async () => {
      const database = await createTestDatabase();
      const errors: Error[] = [];
      const db = await createDb({
        kind: "postgres",
        url: database.url,
        poolSize: 2,
        onConnectionError: (err) => errors.push(err),
      });
      const admin = new pg.Client({ connectionString: database.url });
      await admin.connect();
      try {
        await db.ping();
        // A connection checked out by a session, idle between statements, when the server kills it.
        await db
          .withSession(async (s) => {
            await admin.query(
              "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
            );
            for (let i = 0; i < 100 && errors.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
            await s.query("SELECT 1");
          })
          .catch(() => undefined);
        expect(errors.length).toBeGreaterThan(0);
        await db.ping();
        expect(await migrate(db)).toEqual({ adopted: false, applied: [] });
      } finally {
        await admin.end();
        await db.close();
        await database.drop();
      }
    });
  }
});

it("fails fast when nothing listens at the address", async () => {
  const db = await createDb({
    kind: "postgres",
    url: "postgres://postgres@127.0.0.1:1/none",
    connectTimeoutMs: 2000,
  });
  try {
    await expect(db.ping()).rejects.toThrow();
  } finally {
    await db.close();
  }
});
