/**
 * Database handle: a node-postgres pool against a real Postgres (`postgres-client.ts`) or an SQLite
 * file (`sqlite-client.ts`), both behind one drizzle instance typed against `schema.ts`. Every query in
 * this package runs on each; where SQLite needs other SQL the query module says so (`dialect.ts`).
 *
 * Code inside `transaction()` must use the `tx` it is given, never `db`: SQLite has one connection,
 * so a query on `db` waits for the transaction to finish.
 */
import type { ExtractTablesWithRelations } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from "drizzle-orm/pg-core";
import { cache, chunk, chunkref, nar, object } from "./schema.ts";
import type { SqliteConfig } from "./sqlite-client.ts";

export const tables = { cache, nar, object, chunk, chunkref };
export type Tables = typeof tables;

/** The drizzle database, whichever driver is underneath. */
export type Orm = PgDatabase<PgQueryResultHKT, Tables>;
export type DbTx = PgTransaction<PgQueryResultHKT, Tables, ExtractTablesWithRelations<Tables>>;

export type DbConfig =
  | {
      kind: "postgres";
      url: string;
      /** Maximum open connections; default 10. */
      poolSize?: number;
      /** Time allowed to open a connection before the query fails; default 10 s. */
      connectTimeoutMs?: number;
      /** Server-side `statement_timeout`; default 60 s. */
      statementTimeoutMs?: number;
      /**
       * Receives errors of connections nobody is using at the moment (Postgres restarted, network
       * dropped). The broken connection is discarded either way; without a handler they are ignored.
       */
      onConnectionError?: (err: Error) => void;
    }
  | SqliteConfig;

/** The SQL a database speaks. */
export type Dialect = "postgres" | "sqlite";

/**
 * One connection for the duration of a callback, speaking plain SQL. For work that needs session
 * state (advisory locks, `SET`) or multi-statement scripts, i.e. migrations and GC locking.
 */
export interface SqlSession {
  readonly dialect: Dialect;
  query<T extends Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /** Runs a script of several statements, without parameters. */
  exec(text: string): Promise<void>;
  /** BEGIN … COMMIT around `fn` on this connection; ROLLBACK if it throws. Not reentrant. */
  transaction<T>(fn: (session: SqlSession) => Promise<T>): Promise<T>;
}

export interface Db {
  readonly kind: "postgres" | "sqlite";
  readonly dialect: Dialect;
  readonly orm: Orm;
  transaction<T>(fn: (tx: DbTx) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` on one dedicated connection. On SQLite (one connection for everything) sessions are
   * serialized against each other.
   */
  withSession<T>(fn: (session: SqlSession) => Promise<T>): Promise<T>;
  /**
   * One statement on any pooled connection, rows as the driver returns them (no ORM mapping). With
   * a `name`, Postgres parses and plans it once per connection (a named prepared statement), which
   * is what the hot read paths want; the same name must always carry the same text.
   */
  query<T extends Record<string, unknown>>(text: string, params: unknown[], name?: string): Promise<T[]>;
  /**
   * Delivers the payloads of NOTIFYs on `channel`. `onState(true)` is called once notifications
   * flow, `onState(false)` whenever some may have been missed (connection lost or unresponsive); the
   * listener reconnects by itself until the returned function stops it.
   */
  listen(channel: string, handlers: ChangeHandlers): Promise<() => Promise<void>>;
  /** Resolves when the database answers a trivial query. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface ChangeHandlers {
  onNotify(payload: string): void;
  onState(listening: boolean): void;
}

export async function createDb(config: DbConfig): Promise<Db> {
  // Each driver is loaded only when used: an SQLite server never loads pg (~30 modules, ~3 MB of
  // heap kept for the life of the process), a Postgres deployment never needs node:sqlite.
  if (config.kind === "sqlite") {
    const { createSqliteDb } = await import("./sqlite-client.ts");
    return createSqliteDb(config, tables);
  }
  const { createPostgresDb } = await import("./postgres-client.ts");
  return createPostgresDb(config, tables);
}
