/**
 * Database handle on an SQLite file (or `:memory:`), through Node's built-in `node:sqlite`: no native
 * module to build, nothing loaded that a Postgres deployment pays for.
 *
 * The connection gets atticd's settings (`journal_mode=WAL`, `synchronous=normal`,
 * `temp_store=memory`, `mmap_size`) plus what sqlx turns on by default (`foreign_keys=ON`, a 5 s
 * busy timeout), so a file behaves the same under either server.
 *
 * Queries: `db.orm` is drizzle's pg-core builder over a proxy session that runs the statements it
 * builds here. The statements garret builds through it (plain selects, inserts with RETURNING,
 * ON CONFLICT, updates, deletes) are valid SQLite once `$n` placeholders read `?n` and the
 * `default` drizzle writes for an omitted insert column reads NULL (an INTEGER PRIMARY KEY then
 * takes the next id, a nullable column NULL; a NOT NULL column with a default must be given a value,
 * or the insert fails loudly). The connection defines `now()` (atticd's timestamp text) and
 * `greatest()` (Postgres's NULL-ignoring one) for them.
 * Statements that differ between the engines have an SQLite text of their own in the query module
 * (`isSqlite` / `sqliteRows`): arrays, row locks, data-modifying CTEs, LATERAL, epoch arithmetic.
 *
 * One connection, one writer: a transaction holds the connection until it ends, and queries issued
 * on `db` meanwhile wait; code inside `transaction()` must use its `tx`. Sessions run
 * one at a time.
 * Transactions start with BEGIN IMMEDIATE, so another process on the same file waits for the write
 * lock up front instead of failing half-way.
 */
import { existsSync } from "node:fs";
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import { drizzle as drizzleProxy } from "drizzle-orm/pg-proxy";
import type { ChangeHandlers, Db, DbTx, Orm, SqlSession, Tables } from "./client.ts";
import { registerSqliteRunner, type SqliteRunner } from "./dialect.ts";
import { SqliteCheckpointer } from "./sqlite-checkpointer.ts";
import { formatSqliteTimestamp, toSqliteValue } from "./sqlite-values.ts";
import type { TaskRunner } from "./task-runner.ts";

export interface SqliteConfig {
  kind: "sqlite";
  /** File path, or `:memory:`. */
  path: string;
  /** `rwc` (default) creates a missing file, `rw` requires it to exist (sqlx's `mode=` URL option). */
  mode?: "rw" | "rwc";
  /**
   * The worker pool a file's WAL checkpoints run on (garretd's), so the main thread never
   * checkpoints. Without one (garretadm, other short-lived processes), the connection keeps SQLite's
   * automatic checkpoint: a command's few writes cost no thread.
   */
  workers?: TaskRunner;
}

const STATEMENT_CACHE_LIMIT = 500;
/**
 * Longer statements are prepared for each call and not kept: they are the ones with a list of
 * values written into their text (a big NAR's chunk ids, its chunkrefs), different on every call,
 * and 500 of them kept tens of MB of statement text and compiled programs for nothing.
 */
const CACHEABLE_STATEMENT_CHARS = 4096;
const PLACEHOLDER = /\$(\d+)/g;
const INSERT_DEFAULT = /([(,] ?)default(?=[,)])/g;
/** Statements that cannot write (the checkpointer need not start for them). */
const READ_ONLY = /^\s*select\b/i;
/** How often another process's commits are looked for (`PRAGMA data_version`). */
const FOREIGN_WRITE_POLL_MS = 1_000;

export function createSqliteDb(config: SqliteConfig, tables: Tables): Db {
  if (config.mode === "rw" && config.path !== ":memory:" && !existsSync(config.path)) {
    throw new Error(`the SQLite database ${config.path} does not exist (mode=rw); use mode=rwc to create it`);
  }
  const conn = new DatabaseSync(config.path, { timeout: 5_000 });
  conn.exec(`
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = normal;
    PRAGMA temp_store = memory;
    PRAGMA mmap_size = 30000000000;
    PRAGMA foreign_keys = ON;`);
  // With a worker pool, a file's WAL is checkpointed there, never by the main thread's commits.
  const checkpointer =
    config.path === ":memory:" || !config.workers
      ? null
      : new SqliteCheckpointer(config.path, config.workers, () => {
          if (conn.isOpen) conn.exec("PRAGMA wal_autocheckpoint = 1000");
        });
  if (checkpointer) conn.exec("PRAGMA wal_autocheckpoint = 0");
  conn.function("now", { deterministic: false }, () => formatSqliteTimestamp(new Date()));
  conn.function("greatest", { varargs: true, deterministic: true }, (...values) => {
    let max: SQLInputValue = null;
    for (const v of values) if (v !== null && (max === null || (v as number) > (max as number))) max = v;
    return max;
  });

  const statements = new Map<string, StatementSync>();
  const prepare = (text: string, arrays: boolean): StatementSync => {
    if (text.length > CACHEABLE_STATEMENT_CHARS) {
      const once = conn.prepare(text);
      if (arrays) once.setReturnArrays(true);
      return once;
    }
    const key = arrays ? `a:${text}` : `o:${text}`;
    let stmt = statements.get(key);
    if (!stmt) {
      if (statements.size >= STATEMENT_CACHE_LIMIT) statements.clear();
      stmt = conn.prepare(text);
      if (arrays) stmt.setReturnArrays(true);
      statements.set(key, stmt);
    }
    return stmt;
  };
  // Change notifications raised by this connection's statements (see listenSqlite), delivered
  // once the statement or transaction that raised them has committed.
  const changes = { pending: new Set<string>(), deliver: (_payload: string) => {} };
  const settle = () => {
    if (changes.pending.size === 0) return;
    const payloads = [...changes.pending];
    changes.pending.clear();
    for (const payload of payloads) changes.deliver(payload);
  };
  const run = <T>(text: string, params: readonly unknown[] | undefined, arrays = false): T[] => {
    const stmt = prepare(text.replace(PLACEHOLDER, "?$1"), arrays);
    const rows = stmt.all(...(params ?? []).map(toSqliteValue)) as T[];
    if (!conn.isTransaction) settle();
    if (checkpointer && !READ_ONLY.test(text)) checkpointer.wrote();
    return rows;
  };

  // The connection is held by at most one transaction or session at a time; others queue.
  let held = false;
  let queue: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(async () => {
      held = true;
      try {
        return await fn();
      } finally {
        held = false;
      }
    });
    queue = next.catch(() => undefined);
    return next;
  };
  /** Runs a statement now, or after the current holder releases the connection. */
  const whenFree = <T>(fn: () => T): Promise<T> =>
    held ? exclusive(async () => fn()) : new Promise<T>((resolve) => resolve(fn()));

  const proxy = (direct: boolean) =>
    drizzleProxy(
      async (text, params, method) => {
        const sqliteText = text.startsWith("insert ") ? text.replace(INSERT_DEFAULT, "$1NULL") : text;
        const exec = () => {
          const rows = run<unknown>(sqliteText, params, method === "all");
          return { rows };
        };
        return direct ? exec() : whenFree(exec);
      },
      { schema: tables },
    ) as unknown as Orm;
  const orm = proxy(false);
  const txOrm = proxy(true);
  let closed = false;

  const transactionOn = async <T>(fn: () => Promise<T>): Promise<T> => {
    conn.exec("BEGIN IMMEDIATE");
    try {
      const result = await fn();
      conn.exec("COMMIT");
      settle();
      checkpointer?.wrote();
      return result;
    } catch (err) {
      if (conn.isTransaction) conn.exec("ROLLBACK");
      changes.pending.clear();
      throw err;
    }
  };

  const directRunner: SqliteRunner = {
    async all<T extends Record<string, unknown>>(text: string, params?: readonly unknown[]) {
      return run<T>(text, params);
    },
  };
  const queuedRunner: SqliteRunner = {
    all: <T extends Record<string, unknown>>(text: string, params?: readonly unknown[]) =>
      whenFree(() => run<T>(text, params)),
  };
  // A session's own statements run between other queries (each commits by itself); its
  // transactions hold the connection. Temporary tables live as long as the connection.
  const txSession: SqlSession = {
    dialect: "sqlite",
    async query<T extends Record<string, unknown>>(text: string, params?: unknown[]) {
      return run<T>(text, params);
    },
    async exec(text) {
      conn.exec(text);
    },
    async transaction() {
      throw new Error("SqlSession.transaction is not reentrant");
    },
  };
  const session: SqlSession = {
    dialect: "sqlite",
    query: <T extends Record<string, unknown>>(text: string, params?: unknown[]) =>
      whenFree(() => run<T>(text, params)),
    exec: (text) =>
      whenFree(() => {
        conn.exec(text);
        if (!conn.isTransaction) settle();
      }),
    transaction: (fn) => exclusive(() => transactionOn(() => fn(txSession))),
  };
  let sessionQueue: Promise<unknown> = Promise.resolve();
  registerSqliteRunner(txOrm, directRunner);
  registerSqliteRunner(txSession, directRunner);
  registerSqliteRunner(session, queuedRunner);

  const db: Db = {
    kind: "sqlite",
    dialect: "sqlite",
    orm,
    transaction: <T>(fn: (tx: DbTx) => Promise<T>) =>
      exclusive(() => transactionOn(() => fn(txOrm as unknown as DbTx))),
    withSession<T>(fn: (session: SqlSession) => Promise<T>): Promise<T> {
      // Sessions run one after another; queries on `db` go on meanwhile.
      const next = sessionQueue.then(() => fn(session));
      sessionQueue = next.catch(() => undefined);
      return next;
    },
    query: <T extends Record<string, unknown>>(text: string, params: unknown[]) =>
      whenFree(() => run<T>(text, params)),
    listen: async (channel, handlers) => listenSqlite(conn, channel, handlers, changes, () => closed),
    async ping() {
      await whenFree(() => run("SELECT 1", []));
    },
    async close() {
      if (closed) return;
      await checkpointer?.stop();
      await exclusive(async () => {
        closed = true;
        statements.clear();
        conn.close();
      });
    },
  };
  registerSqliteRunner(db, queuedRunner);
  return db;
}

/**
 * The change feed of migration 0008 for SQLite. This connection's own writes are reported by TEMP
 * triggers (they live in the connection, not in the file, so atticd never sees them) calling a
 * function defined here; the client delivers what they raised once the statement or transaction
 * commits, each payload once. Another process's commits show as a new `PRAGMA data_version` and
 * report both kinds of change within FOREIGN_WRITE_POLL_MS.
 */
function listenSqlite(
  conn: DatabaseSync,
  channel: string,
  handlers: ChangeHandlers,
  changes: { pending: Set<string>; deliver: (payload: string) => void },
  closed: () => boolean,
): () => Promise<void> {
  const fn = `${channel}_notify`;
  conn.function(fn, (payload) => {
    changes.pending.add(String(payload));
    return null;
  });
  changes.deliver = (payload) => handlers.onNotify(payload);
  conn.exec(`
    CREATE TEMP TRIGGER IF NOT EXISTS "garret-object-changed"
      AFTER UPDATE OF cache_id, nar_id, store_path_hash, store_path, "references", system, deriver, sigs, ca
      ON object BEGIN SELECT ${fn}('object'); END;
    CREATE TEMP TRIGGER IF NOT EXISTS "garret-object-deleted"
      AFTER DELETE ON object BEGIN SELECT ${fn}('object'); END;
    CREATE TEMP TRIGGER IF NOT EXISTS "garret-nar-invalidated"
      AFTER UPDATE OF state ON nar WHEN OLD.state = 'V' AND NEW.state IS NOT 'V'
      BEGIN SELECT ${fn}('object'); END;
    CREATE TEMP TRIGGER IF NOT EXISTS "garret-cache-inserted" AFTER INSERT ON cache BEGIN SELECT ${fn}('cache'); END;
    CREATE TEMP TRIGGER IF NOT EXISTS "garret-cache-updated" AFTER UPDATE ON cache BEGIN SELECT ${fn}('cache'); END;
    CREATE TEMP TRIGGER IF NOT EXISTS "garret-cache-deleted" AFTER DELETE ON cache BEGIN SELECT ${fn}('cache'); END;`);
  const dataVersion = conn.prepare("PRAGMA data_version");
  let seen = dataVersion.get()?.data_version;
  const poll = setInterval(() => {
    if (closed() || conn.isTransaction) return;
    const now = dataVersion.get()?.data_version;
    if (now !== seen) {
      seen = now;
      handlers.onNotify("object");
      handlers.onNotify("cache");
    }
  }, FOREIGN_WRITE_POLL_MS);
  poll.unref();
  handlers.onState(true);
  return async () => {
    clearInterval(poll);
    changes.deliver = () => {};
    if (closed()) return;
    conn.exec(`
      DROP TRIGGER IF EXISTS temp."garret-object-changed";
      DROP TRIGGER IF EXISTS temp."garret-object-deleted";
      DROP TRIGGER IF EXISTS temp."garret-nar-invalidated";
      DROP TRIGGER IF EXISTS temp."garret-cache-inserted";
      DROP TRIGGER IF EXISTS temp."garret-cache-updated";
      DROP TRIGGER IF EXISTS temp."garret-cache-deleted";`);
  };
}
