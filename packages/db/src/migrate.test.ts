/**
 * Migrations on every database kind: a fresh database, idempotence, concurrent migrators, adoption of
 * an atticd database (test/fixtures/atticd-schema.sql, atticd-schema-sqlite.sql for SQLite) and
 * refusal of an older atticd's database.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  createTestDatabase,
  openTestDb,
  type TestDbKind,
  testDbKinds,
} from "../../../test/support/postgres.ts";
import { createDb, type Db, type SqlSession } from "./client.ts";
import {
  ATTICD_SCHEMA_MIGRATION,
  MigrationError,
  migrate,
  migrationsDir,
  readMigrations,
} from "./migrate.ts";
import { findCache } from "./queries/caches.ts";
import { findAndLockNar, releaseNar } from "./queries/nars.ts";
import { findObjectForDownload, findObjectWithNar, getMissingPaths } from "./queries/objects.ts";

const FIXTURES: Record<TestDbKind, URL> = {
  postgres: new URL("../../../test/fixtures/atticd-schema.sql", import.meta.url),
  sqlite: new URL("../../../test/fixtures/atticd-schema-sqlite.sql", import.meta.url),
};
const ATTICD_TABLES = ["cache", "nar", "object", "chunk", "chunkref", "seaql_migrations"];
const REMOVE_CHUNK_RECOVERY_MARKER = "-- @@ m20260624_000001_remove_chunk_recovery";

async function allMigrationNames(): Promise<string[]> {
  return (await readMigrations()).map((m) => m.name);
}

function migrationsOf(kind: TestDbKind) {
  return readMigrations(migrationsDir(kind === "sqlite" ? "sqlite" : "postgres"));
}

async function withFreshDb<T>(kind: TestDbKind, fn: (db: Db) => Promise<T>): Promise<T> {
  const opened = await openTestDb(kind, { migrated: false });
  try {
    return await fn(opened.db);
  } finally {
    await opened.dispose();
  }
}

interface SchemaSnapshot {
  /** "table.column" → JSON of [type, length, nullable, default], in table/ordinal order. */
  columns: Map<string, string>;
  constraints: string[];
  indexes: Map<string, string>;
  seaql: string[];
}

/**
 * atticd's tables as SQLite's catalog describes them: columns from table_info, foreign keys from
 * foreign_key_list, each index's DDL text.
 */
async function sqliteSnapshot(s: SqlSession): Promise<SchemaSnapshot> {
  const names = JSON.stringify(ATTICD_TABLES);
  const columns = await s.query<Record<string, unknown>>(
    `SELECT t.name AS table_name, c.name AS column_name, c.type, c."notnull" AS not_null, c.dflt_value, c.pk
     FROM sqlite_master t JOIN pragma_table_info(t.name) c
     WHERE t.type = 'table' AND t.name IN (SELECT value FROM json_each($1))
     ORDER BY t.name, c.cid`,
    [names],
  );
  const constraints = await s.query<{ c: string }>(
    `SELECT t.name || ' ' || f."from" || ' -> ' || f."table" || '.' || f."to" || ' ON DELETE ' || f.on_delete AS c
     FROM sqlite_master t JOIN pragma_foreign_key_list(t.name) f
     WHERE t.type = 'table' AND t.name IN (SELECT value FROM json_each($1))
     ORDER BY 1`,
    [names],
  );
  const indexes = await s.query<{ name: string; sql: string | null }>(
    `SELECT name, sql FROM sqlite_master
     WHERE type = 'index' AND tbl_name IN (SELECT value FROM json_each($1)) AND sql IS NOT NULL`,
    [names],
  );
  const seaql = await s.query<{ version: string; applied_at: number }>(
    "SELECT version, applied_at FROM seaql_migrations ORDER BY version",
  );
  return {
    columns: new Map(
      columns.map((c) => [
        `${c.table_name}.${c.column_name}`,
        JSON.stringify([c.type, c.pk, c.not_null === 1 ? "NO" : "YES", c.dflt_value]),
      ]),
    ),
    constraints: constraints.map((c) => c.c),
    indexes: new Map(indexes.map((i) => [i.name, i.sql ?? ""])),
    seaql: seaql.map((r) => `${r.version} ${r.applied_at}`),
  };
}

/** atticd's tables as the catalog describes them, one string per column/constraint/index. */
async function snapshot(s: SqlSession): Promise<SchemaSnapshot> {
  if (s.dialect === "sqlite") return sqliteSnapshot(s);
  const columns = await s.query<Record<string, unknown>>(
    `SELECT table_name, column_name, data_type, character_maximum_length, is_nullable, column_default
     FROM information_schema.columns
     WHERE table_schema = current_schema() AND table_name = ANY($1::text[])
     ORDER BY table_name, ordinal_position`,
    [ATTICD_TABLES],
  );
  const constraints = await s.query<{ c: string }>(
    `SELECT conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid) AS c
     FROM pg_constraint
     WHERE conrelid::regclass::text = ANY($1::text[])
     ORDER BY 1`,
    [ATTICD_TABLES],
  );
  const indexes = await s.query<{ indexname: string; indexdef: string }>(
    `SELECT indexname, indexdef FROM pg_indexes
     WHERE schemaname = current_schema() AND tablename = ANY($1::text[])`,
    [ATTICD_TABLES],
  );
  const seaql = await s.query<{ version: string; applied_at: number }>(
    "SELECT version, applied_at FROM seaql_migrations ORDER BY version",
  );
  return {
    columns: new Map(
      columns.map((c) => [
        `${c.table_name}.${c.column_name}`,
        JSON.stringify([c.data_type, c.character_maximum_length, c.is_nullable, c.column_default]),
      ]),
    ),
    constraints: constraints.map((c) => c.c),
    indexes: new Map(indexes.map((i) => [i.indexname, i.indexdef])),
    seaql: seaql.map((r) => `${r.version} ${r.applied_at}`),
  };
}

/**
 * Rows as atticd writes them: one cache, a two-chunk NAR, one object. On SQLite atticd's
 * timestamps are RFC 3339 text with a `+00:00` offset.
 */
function atticdRows(kind: TestDbKind): string {
  return kind === "sqlite" ? ATTICD_ROWS.replaceAll("T00:00:00Z", "T00:00:00.123456789+00:00") : ATTICD_ROWS;
}

const ATTICD_ROWS = `
  INSERT INTO cache (name, keypair, is_public, store_dir, priority, upstream_cache_key_names, created_at)
  VALUES ('legacy', 'legacy:AAAA', true, '/nix/store', 41, '["cache.nixos.org-1"]', '2025-01-01T00:00:00Z');
  INSERT INTO nar (state, nar_hash, nar_size, compression, num_chunks, holders_count, created_at)
  VALUES ('V', 'sha256:baeabdb75c223d171800c17b05c5e7e8e9980723a90eb6ffcc632a305afc5a42', 144, 'zstd', 2, 0,
          '2025-01-01T00:00:00Z');
  INSERT INTO chunk (state, chunk_hash, chunk_size, file_hash, file_size, compression, remote_file,
                     remote_file_id, holders_count, created_at)
  VALUES ('V', 'sha256:1111111111111111111111111111111111111111111111111111111111111111', 100,
          'sha256:2222222222222222222222222222222222222222222222222222222222222222', 80, 'zstd',
          '{"Local":{"name":"a.chunk"}}', 'local:a.chunk', 0, '2025-01-01T00:00:00Z'),
         ('V', 'sha256:3333333333333333333333333333333333333333333333333333333333333333', 44,
          'sha256:4444444444444444444444444444444444444444444444444444444444444444', 40, 'zstd',
          '{"Local":{"name":"b.chunk"}}', 'local:b.chunk', 0, '2025-01-01T00:00:00Z');
  INSERT INTO chunkref (nar_id, seq, chunk_id) VALUES (1, 0, 1), (1, 1, 2);
  INSERT INTO object (cache_id, nar_id, store_path_hash, store_path, "references", system, deriver, sigs, ca,
                      created_at, last_accessed_at, created_by)
  VALUES (1, 1, 'nm1w9sdm6j6icmhd2q3260hl1w9zj6li',
          '/nix/store/nm1w9sdm6j6icmhd2q3260hl1w9zj6li-attic-test-no-deps', '["abc-dep"]', NULL, NULL,
          '["k:sig"]', NULL, '2025-01-01T00:00:00Z', NULL, 'alice');
`;

describe.each(testDbKinds())("migrate [%s]", (kind) => {
  it("creates the schema on an empty database and is idempotent", async () => {
    await withFreshDb(kind, async (db) => {
      const first = await migrate(db);
      expect(first).toEqual({ adopted: false, applied: await allMigrationNames() });
      expect(first.applied).toEqual((await migrationsOf(kind)).map((m) => m.name));
      expect(await migrate(db)).toEqual({ adopted: false, applied: [] });
      const recorded = await db.withSession((s) =>
        s.query<{ name: string; adopted: boolean | number }>(
          "SELECT name, adopted FROM garret_migrations ORDER BY name",
        ),
      );
      expect(recorded.map((r) => ({ name: r.name, adopted: Boolean(r.adopted) }))).toEqual(
        first.applied.map((name) => ({ name, adopted: false })),
      );
      const seaql = await db.withSession((s) =>
        s.query<{ version: string }>("SELECT version FROM seaql_migrations ORDER BY applied_at, version"),
      );
      expect(seaql).toHaveLength(15);
    });
  });

  it("records atticd's 15 migrations in apply order", async () => {
    await withFreshDb(kind, async (db) => {
      await migrate(db);
      const fixture = await readFile(FIXTURES[kind], "utf8");
      const fixtureOrder = [...fixture.matchAll(/^-- @@ (\S+)$/gm)].map((m) => m[1]);
      // A fresh migration stamps every row with the same second, so insertion order is the order.
      const versions = await db.withSession((s) =>
        s.query<{ version: string }>(
          `SELECT version FROM seaql_migrations ORDER BY ${kind === "sqlite" ? "rowid" : "ctid"}`,
        ),
      );
      expect(versions.map((v) => v.version)).toEqual(fixtureOrder);
    });
  });

  it("serializes concurrent migrate calls", async () => {
    await withFreshDb(kind, async (db) => {
      const [a, b] = await Promise.all([migrate(db), migrate(db)]);
      expect([...a.applied, ...b.applied].sort()).toEqual(await allMigrationNames());
      expect(a.applied.length === 0 || b.applied.length === 0).toBe(true);
    });
  });

  it("creates exactly the schema atticd's migrations leave", async () => {
    const fixture = await readFile(FIXTURES[kind], "utf8");
    const fromAtticd = await withFreshDb(kind, (db) =>
      db.withSession(async (s) => {
        await s.exec(fixture);
        return snapshot(s);
      }),
    );
    // Only 0001: later migrations may add garret columns and indexes to these tables.
    const onlyAtticd = await mkdtemp(join(tmpdir(), "garret-0001-"));
    const first = (await migrationsOf(kind))[0];
    if (first?.name !== ATTICD_SCHEMA_MIGRATION) throw new Error("0001 is not the first migration");
    await writeFile(join(onlyAtticd, `${first.name}.sql`), first.sql);
    const fromGarret = await withFreshDb(kind, async (db) => {
      await migrate(db, { migrationsDir: onlyAtticd });
      return db.withSession(snapshot);
    }).finally(() => rm(onlyAtticd, { recursive: true }));
    expect([...fromGarret.columns]).toEqual([...fromAtticd.columns]);
    expect(fromGarret.constraints).toEqual(fromAtticd.constraints);
    expect(fromGarret.indexes).toEqual(fromAtticd.indexes);
    expect([...fromGarret.seaql].map((r) => r.split(" ")[0])).toEqual(
      [...fromAtticd.seaql].map((r) => r.split(" ")[0]),
    );
  });

  it("adopts an atticd database without touching atticd's tables", async () => {
    const fixture = await readFile(FIXTURES[kind], "utf8");
    await withFreshDb(kind, async (db) => {
      const before = await db.withSession(async (s) => {
        await s.exec(fixture);
        await s.exec(atticdRows(kind));
        return snapshot(s);
      });

      const result = await migrate(db);
      expect(result.adopted).toBe(true);
      expect(result.applied).toEqual(
        (await allMigrationNames()).filter((n) => n !== ATTICD_SCHEMA_MIGRATION),
      );

      const after = await db.withSession(snapshot);
      // atticd's columns keep their definitions and order; garret may only add nullable or
      // defaulted columns after them.
      const kept = [...after.columns].filter(([name]) => before.columns.has(name));
      expect(kept).toEqual([...before.columns]);
      for (const [name, def] of after.columns) {
        if (before.columns.has(name)) continue;
        const [, , nullable, dflt] = JSON.parse(def) as [string, number | null, string, string | null];
        expect({ name, additive: nullable === "YES" || dflt !== null }).toEqual({ name, additive: true });
      }
      for (const c of before.constraints) expect(after.constraints).toContain(c);
      expect(after.seaql).toEqual(before.seaql);
      for (const [name, def] of before.indexes) expect(after.indexes.get(name)).toBe(def);
      const added = [...after.indexes.keys()].filter((n) => !before.indexes.has(n));
      expect(added.length).toBeGreaterThan(0);
      for (const name of added) expect(name).toMatch(/^garret-/);

      const adoptedRow = await db.withSession((s) =>
        s.query<{ adopted: boolean | number }>("SELECT adopted FROM garret_migrations WHERE name = $1", [
          ATTICD_SCHEMA_MIGRATION,
        ]),
      );
      expect(adoptedRow.map((r) => Boolean(r.adopted))).toEqual([true]);

      const cache = await findCache(db, "legacy");
      expect(cache).toMatchObject({ id: 1, isPublic: true, upstreamCacheKeyNames: ["cache.nixos.org-1"] });
      const hash = "nm1w9sdm6j6icmhd2q3260hl1w9zj6li";
      const found = await findObjectWithNar(db, 1, hash);
      expect(found?.object).toMatchObject({ references: ["abc-dep"], sigs: ["k:sig"], createdBy: "alice" });
      expect(found?.nar).toMatchObject({ narSize: 144, numChunks: 2, compression: "zstd" });
      const download = await findObjectForDownload(db, 1, hash);
      expect(download?.chunks.map((c) => c?.remoteFileId)).toEqual(["local:a.chunk", "local:b.chunk"]);
      expect(await getMissingPaths(db, 1, [hash, "x".repeat(32)])).toEqual(["x".repeat(32)]);
      const locked = await findAndLockNar(
        db,
        "sha256:baeabdb75c223d171800c17b05c5e7e8e9980723a90eb6ffcc632a305afc5a42",
      );
      expect(locked?.holdersCount).toBe(1);
      await releaseNar(db, 1);

      expect(await migrate(db)).toEqual({ adopted: false, applied: [] });
    });
  });

  it("refuses a database from an atticd older than remove_chunk_recovery", async () => {
    const fixture = await readFile(FIXTURES[kind], "utf8");
    const older = fixture.slice(0, fixture.indexOf(REMOVE_CHUNK_RECOVERY_MARKER));
    await withFreshDb(kind, async (db) => {
      const before = await db.withSession(async (s) => {
        await s.exec(older);
        return snapshot(s);
      });
      const error = await migrate(db).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MigrationError);
      expect((error as Error).message).toMatch(/older atticd/);
      expect((error as Error).message).toMatch(/m20260624_000001_remove_chunk_recovery/);
      expect((error as Error).message).toMatch(/chunkref\.chunk_hash/);
      expect((error as Error).message).toMatch(/atticd --mode db-migrations/);
      const after = await db.withSession(snapshot);
      expect(after.columns).toEqual(before.columns);
      expect(after.indexes).toEqual(before.indexes);
      // On SQLite the whole run is one transaction: not even garret_migrations is left behind.
      const recorded =
        kind === "sqlite"
          ? await db.query("SELECT name FROM sqlite_master WHERE name = 'garret_migrations'", [])
          : await db.withSession((s) => s.query("SELECT name FROM garret_migrations"));
      expect(recorded).toEqual([]);
    });
  });

  it("refuses an atticd database that still has the chunk recovery columns", async () => {
    const fixture = await readFile(FIXTURES[kind], "utf8");
    await withFreshDb(kind, async (db) => {
      await db.withSession(async (s) => {
        await s.exec(fixture);
        await s.exec(`ALTER TABLE nar ADD COLUMN completeness_hint bool NOT NULL DEFAULT true`);
      });
      await expect(migrate(db)).rejects.toThrow(/older atticd.*nar\.completeness_hint/s);
    });
  });

  it("refuses tables named like atticd's that atticd did not create", async () => {
    await withFreshDb(kind, async (db) => {
      await db.withSession((s) => s.exec("CREATE TABLE cache (id bigint PRIMARY KEY)"));
      await expect(migrate(db)).rejects.toThrow(/no seaql_migrations table/);
    });
  });
  // Separate pools stand in for two garretd processes starting together.
  if (kind === "postgres") {
    it("lets two pools migrate the same empty database at once", async () => {
      const database = await createTestDatabase({ migrated: false });
      const a = await createDb({ kind: "postgres", url: database.url, poolSize: 2 });
      const b = await createDb({ kind: "postgres", url: database.url, poolSize: 2 });
      try {
        const results = await Promise.all([migrate(a), migrate(b)]);
        const applied = results.flatMap((r) => r.applied);
        expect(applied.sort()).toEqual(await allMigrationNames());
        expect(results.some((r) => r.applied.length === 0)).toBe(true);
        const count = await a.withSession((s) =>
          s.query<{ n: number }>("SELECT count(*)::int AS n FROM seaql_migrations"),
        );
        expect(count).toEqual([{ n: 15 }]);
      } finally {
        await a.close();
        await b.close();
        await database.drop();
      }
    });
  }
});

describe("SQLite migrations", () => {
  it("exist for every Postgres migration, under the same name", async () => {
    // A new migration in migrations/ needs its SQLite variant in migrations/sqlite/.
    expect((await readMigrations(migrationsDir("sqlite"))).map((m) => m.name)).toEqual(
      await allMigrationNames(),
    );
  });

  it("let two processes' connections migrate the same file at once", async () => {
    const dir = await mkdtemp(join(tmpdir(), "garret-sqlite-migrate-"));
    const path = join(dir, "server.db");
    const a = await createDb({ kind: "sqlite", path });
    const b = await createDb({ kind: "sqlite", path });
    try {
      const results = await Promise.all([migrate(a), migrate(b)]);
      expect(results.flatMap((r) => r.applied).sort()).toEqual(await allMigrationNames());
      expect(await migrate(b)).toEqual({ adopted: false, applied: [] });
    } finally {
      await a.close();
      await b.close();
      await rm(dir, { recursive: true });
    }
  });
});
