/**
 * Databases for tests: the `describeEachDb` matrix (SQLite always, real Postgres when
 * GARRET_TEST_POSTGRES_URL is set) and throwaway Postgres databases cloned from a migrated template.
 *
 * The template is named after a hash of the migration files, so it is built once per migration set
 * (the first worker of a run builds it, the others wait on an advisory lock) and rebuilt when a
 * migration changes. Each describe block gets its own database, dropped afterwards.
 */
import { createHash, randomBytes } from "node:crypto";
import { createDb, type Db, migrate, readMigrations } from "@garret/db";
import pg from "pg";
import { afterAll, beforeAll, describe } from "vitest";

export type TestDbKind = "sqlite" | "postgres";

// Serializes template builds and clones across test workers (arbitrary constant).
const TEMPLATE_LOCK_KEY = "7450656714298917121";

/** Admin URL of the test Postgres server, e.g. postgres://postgres@127.0.0.1:5432/postgres. */
export function postgresTestUrl(): string | undefined {
  const url = process.env.GARRET_TEST_POSTGRES_URL;
  return url === undefined || url === "" ? undefined : url;
}

/** The database kinds this run covers. */
export function testDbKinds(): TestDbKind[] {
  return postgresTestUrl() === undefined ? ["sqlite"] : ["sqlite", "postgres"];
}

function requireUrl(): string {
  const url = postgresTestUrl();
  if (url === undefined) throw new Error("GARRET_TEST_POSTGRES_URL is not set");
  return url;
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: requireUrl(), connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function templateName(): Promise<string> {
  const hash = createHash("sha256");
  for (const m of await readMigrations()) hash.update(m.name).update("\0").update(m.sql).update("\0");
  return `garret_test_tpl_${hash.digest("hex").slice(0, 16)}`;
}

async function ensureTemplate(admin: pg.Client, template: string): Promise<void> {
  const exists = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate", [
    template,
  ]);
  if (exists.rowCount) return;
  // A half-built template from a crashed run is not marked as a template yet: rebuild it.
  await admin.query(`DROP DATABASE IF EXISTS "${template}" WITH (FORCE)`);
  await admin.query(`CREATE DATABASE "${template}"`);
  const db = await createDb({ kind: "postgres", url: withDatabase(requireUrl(), template), poolSize: 1 });
  try {
    await migrate(db);
  } finally {
    await db.close();
  }
  await admin.query(`ALTER DATABASE "${template}" WITH IS_TEMPLATE true`);
}

/**
 * A new, uniquely named database on the test server: migrated (cloned from the template) by
 * default, or empty with `{ migrated: false }`.
 */
export async function createTestDatabase(
  options: { migrated?: boolean } = {},
): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `garret_test_${process.pid}_${randomBytes(6).toString("hex")}`;
  const template = options.migrated === false ? "template0" : await templateName();
  await withAdmin(async (admin) => {
    await admin.query("SELECT pg_advisory_lock($1::bigint)", [TEMPLATE_LOCK_KEY]);
    try {
      if (options.migrated !== false) await ensureTemplate(admin, template);
      // Cloning fails while anyone is connected to the template, so it happens under the lock too.
      await admin.query(`CREATE DATABASE "${name}" TEMPLATE "${template}"`);
    } finally {
      await admin.query("SELECT pg_advisory_unlock($1::bigint)", [TEMPLATE_LOCK_KEY]);
    }
  });
  return {
    url: withDatabase(requireUrl(), name),
    drop: () =>
      withAdmin(async (admin) => {
        await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      }),
  };
}

/** An open database of the given kind and a function that closes (and for Postgres drops) it. */
export async function openTestDb(
  kind: TestDbKind,
  options: { migrated?: boolean } = {},
): Promise<{ db: Db; dispose(): Promise<void> }> {
  if (kind === "sqlite") {
    const db = await createDb({ kind: "sqlite", path: ":memory:" });
    if (options.migrated !== false) await migrate(db);
    return { db, dispose: () => db.close() };
  }
  const database = await createTestDatabase(options);
  const db = await createDb({ kind: "postgres", url: database.url, poolSize: 4 });
  return {
    db,
    async dispose() {
      await db.close();
      await database.drop();
    },
  };
}

/**
 * Runs `suite` once per database kind, as `<name> [sqlite]` / `<name> [postgres]`, each with a
 * fresh migrated database opened before and closed after the block. `kind` lets a suite register
 * cases that only make sense on one of them.
 */
export function describeEachDb(name: string, suite: (getDb: () => Db, kind: TestDbKind) => void): void {
  for (const kind of testDbKinds()) {
    describe(`${name} [${kind}]`, () => {
      let opened: { db: Db; dispose(): Promise<void> } | undefined;
      beforeAll(async () => {
        opened = await openTestDb(kind);
      });
      afterAll(async () => {
        await opened?.dispose();
      });
      suite(() => {
        if (!opened) throw new Error("the database is opened in beforeAll");
        return opened.db;
      }, kind);
    });
  }
}
