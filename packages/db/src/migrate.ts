/**
 * Forward-only SQL migrations from the repository's `migrations/` directory (`NNNN_name.sql`),
 * recorded in `garret_migrations`, and adoption of a database that atticd created.
 *
 * `0001_atticd_schema` is atticd's own schema. On a database where atticd's migrations already ran
 * (SeaORM's `seaql_migrations` lists them, up to `m20260624_000001_remove_chunk_recovery`), it is
 * recorded as adopted without running, and only garret's additive migrations apply. atticd's tables
 * are never altered beyond what those migrations add (indexes, nullable or defaulted columns), so
 * atticd can run against the database again afterwards.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Db, Dialect, SqlSession } from "./client.ts";

export interface MigrateResult {
  /** True when this call found an atticd database and recorded `0001_atticd_schema` as adopted. */
  adopted: boolean;
  /** Migrations executed by this call, in order. */
  applied: string[];
}

export interface MigrateOptions {
  /** Directory holding the `.sql` files; defaults to the repository's `migrations/`. */
  migrationsDir?: string;
}

/** Refusal to touch a database garret cannot safely use or adopt. */
export class MigrationError extends Error {
  override readonly name = "MigrationError";
}

export const ATTICD_SCHEMA_MIGRATION = "0001_atticd_schema";
/** The newest atticd migration garret's schema corresponds to. */
export const REQUIRED_ATTICD_MIGRATION = "m20260624_000001_remove_chunk_recovery";

const DEFAULT_MIGRATIONS_DIR = fileURLToPath(new URL("../../../migrations/", import.meta.url));
/**
 * SQLite's variant of every migration, under the same name: `migrations/sqlite/NNNN_name.sql`. A new
 * Postgres migration needs its SQLite file too (`migrate.test.ts` checks the two sets match).
 */
const SQLITE_MIGRATIONS_DIR = join(DEFAULT_MIGRATIONS_DIR, "sqlite");

/** The directory of the dialect's migrations. */
export function migrationsDir(dialect: Dialect): string {
  return dialect === "sqlite" ? SQLITE_MIGRATIONS_DIR : DEFAULT_MIGRATIONS_DIR;
}
const FILE_NAME = /^(\d{4})_[a-z0-9_]+\.sql$/;
// Arbitrary constant shared by every garret process: "garret" in ASCII, then 0001.
const LOCK_KEY = "7450656714298916865";

export interface Migration {
  name: string;
  sql: string;
}

export async function readMigrations(dir: string = DEFAULT_MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => FILE_NAME.test(f)).sort();
  const seen = new Set<string>();
  const migrations: Migration[] = [];
  for (const file of files) {
    const number = file.slice(0, 4);
    if (seen.has(number)) throw new MigrationError(`two migrations numbered ${number} in ${dir}`);
    seen.add(number);
    migrations.push({ name: file.slice(0, -".sql".length), sql: await readFile(join(dir, file), "utf8") });
  }
  return migrations;
}

/**
 * Brings the database up to date. Safe to call from several processes at once: they queue on a
 * session advisory lock, and later ones find nothing left to do. Each migration runs in its own
 * transaction together with its bookkeeping row.
 */
export async function migrate(db: Db, options: MigrateOptions = {}): Promise<MigrateResult> {
  const migrations = await readMigrations(options.migrationsDir ?? migrationsDir(db.dialect));
  if (db.dialect === "sqlite") {
    // One write transaction for the whole run (SQLite's DDL is transactional): another process
    // migrating the same file waits for it, then finds nothing left to do.
    return db.withSession((session) =>
      session.transaction((tx) => migrateLocked(tx, migrations, { nested: true })),
    );
  }
  return db.withSession(async (session) => {
    // Index builds on a large adopted database, and waiting for another migrator, may take longer
    // than the pool's statement timeout.
    await session.exec("SET statement_timeout = 0");
    await session.query("SELECT pg_advisory_lock($1::bigint)", [LOCK_KEY]);
    let ok = false;
    try {
      const result = await migrateLocked(session, migrations);
      ok = true;
      return result;
    } finally {
      const release = session
        .query("SELECT pg_advisory_unlock($1::bigint)", [LOCK_KEY])
        .then(() => session.exec("RESET statement_timeout"));
      // After a failure the session is discarded anyway; keep the original error.
      await (ok ? release : release.catch(() => undefined));
    }
  });
}

async function migrateLocked(
  session: SqlSession,
  migrations: Migration[],
  opts: { nested?: boolean } = {},
): Promise<MigrateResult> {
  await session.exec(
    session.dialect === "sqlite"
      ? `CREATE TABLE IF NOT EXISTS garret_migrations (
           name text PRIMARY KEY,
           applied_at timestamp_with_timezone_text NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
           adopted boolean NOT NULL DEFAULT 0
         )`
      : `CREATE TABLE IF NOT EXISTS garret_migrations (
           name text PRIMARY KEY,
           applied_at timestamptz NOT NULL DEFAULT now(),
           adopted boolean NOT NULL DEFAULT false
         )`,
  );
  const done = new Set(
    (await session.query<{ name: string }>("SELECT name FROM garret_migrations")).map((r) => r.name),
  );
  const result: MigrateResult = { adopted: false, applied: [] };
  for (const migration of migrations) {
    if (done.has(migration.name)) continue;
    if (migration.name === ATTICD_SCHEMA_MIGRATION && (await checkAtticdDatabase(session))) {
      await session.query("INSERT INTO garret_migrations (name, adopted) VALUES ($1, true)", [
        migration.name,
      ]);
      result.adopted = true;
      continue;
    }
    const apply = async (tx: SqlSession) => {
      await tx.exec(migration.sql);
      await tx.query("INSERT INTO garret_migrations (name) VALUES ($1)", [migration.name]);
    };
    await (opts.nested ? apply(session) : session.transaction(apply));
    result.applied.push(migration.name);
  }
  return result;
}

/**
 * atticd's tables and columns after its last migration. Spelled out rather than read from schema.ts,
 * which also carries the columns garret's own migrations add to these tables.
 */
const ATTICD_COLUMNS: Record<string, readonly string[]> = {
  cache: [
    "id",
    "name",
    "keypair",
    "is_public",
    "store_dir",
    "priority",
    "upstream_cache_key_names",
    "created_at",
    "deleted_at",
    "retention_period",
  ],
  nar: ["id", "state", "nar_hash", "nar_size", "compression", "holders_count", "created_at", "num_chunks"],
  object: [
    "id",
    "cache_id",
    "nar_id",
    "store_path_hash",
    "store_path",
    "references",
    "system",
    "deriver",
    "sigs",
    "ca",
    "created_at",
    "last_accessed_at",
    "created_by",
  ],
  chunk: [
    "id",
    "state",
    "chunk_hash",
    "chunk_size",
    "file_hash",
    "file_size",
    "compression",
    "remote_file",
    "remote_file_id",
    "holders_count",
    "created_at",
  ],
  chunkref: ["id", "nar_id", "seq", "chunk_id"],
};
// Columns that only atticd builds older than the required migration have.
const PRE_REMOVAL_COLUMNS = [
  ["chunkref", "chunk_hash"],
  ["chunkref", "compression"],
  ["nar", "completeness_hint"],
] as const;

/**
 * Returns true when the database already holds atticd's current schema, false when it holds none of
 * it, and throws when it holds something garret must not build on (an older atticd schema, or
 * tables with atticd's names that atticd's migrations did not create).
 */
async function checkAtticdDatabase(session: SqlSession): Promise<boolean> {
  const names = [...Object.keys(ATTICD_COLUMNS), "seaql_migrations"];
  const { present, columns } = await readCatalog(session, names);
  if (present.length === 0) return false;
  if (!present.includes("seaql_migrations")) {
    throw new MigrationError(
      `the database already has table(s) ${present.join(", ")} but no seaql_migrations table, so it was ` +
        "not created by atticd; garret will not build on it. Use an empty database or an atticd database.",
    );
  }
  const versions = new Set(
    (await session.query<{ version: string }>("SELECT version FROM seaql_migrations")).map((r) => r.version),
  );
  const has = (table: string, column: string) =>
    columns.some((c) => c.table_name === table && c.column_name === column);
  const stale = PRE_REMOVAL_COLUMNS.filter(([t, c]) => has(t, c)).map(([t, c]) => `${t}.${c}`);
  if (!versions.has(REQUIRED_ATTICD_MIGRATION) || stale.length > 0) {
    const evidence = [
      ...(versions.has(REQUIRED_ATTICD_MIGRATION)
        ? []
        : [`seaql_migrations does not list ${REQUIRED_ATTICD_MIGRATION}`]),
      ...(stale.length > 0
        ? [`it still has ${stale.join(", ")}, which ${REQUIRED_ATTICD_MIGRATION} removes`]
        : []),
    ];
    throw new MigrationError(
      `this database was created by an older atticd (${evidence.join("; ")}). garret does not alter ` +
        "atticd's tables: run a current atticd against it once (`atticd --mode db-migrations`) to apply " +
        "atticd's newer migrations, then start garret again.",
    );
  }
  const missing = Object.entries(ATTICD_COLUMNS).flatMap(([table, cols]) =>
    cols.filter((c) => !has(table, c)).map((c) => `${table}.${c}`),
  );
  if (missing.length > 0) {
    throw new MigrationError(
      `the atticd database lacks ${missing.join(", ")}, which atticd's migrations create; ` +
        "garret will not adopt a database whose schema it does not recognise.",
    );
  }
  return true;
}

/** Which of the named tables exist, and their columns. */
async function readCatalog(
  session: SqlSession,
  names: string[],
): Promise<{ present: string[]; columns: Array<{ table_name: string; column_name: string }> }> {
  if (session.dialect === "sqlite") {
    const tables = await session.query<{ name: string }>(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (SELECT value FROM json_each($1))",
      [names],
    );
    const columns = await session.query<{ table_name: string; column_name: string }>(
      `SELECT t.name AS table_name, c.name AS column_name
       FROM sqlite_master t JOIN pragma_table_info(t.name) c
       WHERE t.type = 'table' AND t.name IN (SELECT value FROM json_each($1))`,
      [names],
    );
    return { present: tables.map((r) => r.name), columns };
  }
  const present = (
    await session.query<{ name: string }>(
      `SELECT table_name AS name FROM information_schema.tables
       WHERE table_schema = current_schema() AND table_name = ANY($1::text[])`,
      [names],
    )
  ).map((r) => r.name);
  const columns = await session.query<{ table_name: string; column_name: string }>(
    `SELECT table_name, column_name FROM information_schema.columns
     WHERE table_schema = current_schema() AND table_name = ANY($1::text[])`,
    [names],
  );
  return { present, columns };
}
