/**
 * Database handle: a node-postgres pool against a real Postgres, or an SQLite file
 * (`sqlite-client.ts`), both behind one drizzle instance typed against `schema.ts`. Every query in
 * this package runs on each; where SQLite needs other SQL the query module says so (`dialect.ts`).
 *
 * Code inside `transaction()` must use the `tx` it is given, never `db`: SQLite has one connection,
 * so a query on `db` waits for the transaction to finish.
 */
import type { ExtractTablesWithRelations } from "drizzle-orm";
import { drizzle as drizzleNodePg } from "drizzle-orm/node-postgres";
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from "drizzle-orm/pg-core";
import pg from "pg";
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

const INT8_OID = 20;

/** int8 → number: ids and byte sizes stay far below 2^53. */
function parseInt8(value: string): number {
  return Number(value);
}

export async function createDb(config: DbConfig): Promise<Db> {
  if (config.kind === "sqlite") {
    // Loaded only when used: a Postgres deployment never needs node:sqlite.
    const { createSqliteDb } = await import("./sqlite-client.ts");
    return createSqliteDb(config, tables);
  }
  return createPostgresDb(config);
}

function createPostgresDb(config: Extract<DbConfig, { kind: "postgres" }>): Db {
  const statementTimeout = config.statementTimeoutMs ?? 60_000;
  const connectTimeout = config.connectTimeoutMs ?? 10_000;
  const pool = new pg.Pool({
    connectionString: config.url,
    max: config.poolSize ?? 10,
    connectionTimeoutMillis: connectTimeout,
    idleTimeoutMillis: 30_000,
    statement_timeout: statementTimeout,
    // Client-side backstop for a peer that vanished without closing the socket.
    query_timeout: statementTimeout + 5_000,
    idle_in_transaction_session_timeout: statementTimeout,
    keepAlive: true,
    application_name: "garret",
    types: {
      getTypeParser: ((oid: number, format?: "text" | "binary") =>
        oid === INT8_OID && format !== "binary"
          ? parseInt8
          : pg.types.getTypeParser(oid, format ?? "text")) as typeof pg.types.getTypeParser,
    },
  });
  const onError = (err: Error) => config.onConnectionError?.(err);
  // The pool only listens for errors on idle clients; a connection that dies while checked out
  // (e.g. between two statements of a transaction) would otherwise emit an unhandled 'error' and
  // take the process down. The failure still reaches the caller through its next query.
  pool.on("connect", (client) => {
    client.on("error", onError);
  });
  pool.on("error", onError);

  const orm = drizzleNodePg({ client: pool, schema: tables }) as unknown as Orm;
  return {
    kind: "postgres",
    dialect: "postgres",
    orm,
    transaction: (fn) => orm.transaction(fn),
    async withSession(fn) {
      const client = await pool.connect();
      let failed = false;
      try {
        return await fn(pgSession(client));
      } catch (err) {
        failed = true;
        throw err;
      } finally {
        // A failed session may have left a transaction open or a lock held: discard the connection.
        client.release(failed);
      }
    },
    async query<T extends Record<string, unknown>>(text: string, params: unknown[], name?: string) {
      const result = await pool.query<T>(
        name === undefined ? { text, values: params } : { name, text, values: params },
      );
      return result.rows;
    },
    listen: (channel, handlers) =>
      listenPostgres(
        { connectionString: config.url, connectionTimeoutMillis: connectTimeout },
        channel,
        handlers,
      ),
    async ping() {
      await pool.query("SELECT 1");
    },
    async close() {
      await pool.end();
    },
  };
}

/** How often a listening connection proves it is alive, and how long it may take to answer. */
const LISTEN_HEARTBEAT_MS = 2_000;
const LISTEN_RETRY_MAX_MS = 5_000;

/**
 * LISTEN on a dedicated connection (a pooled one would be handed to other queries). A connection
 * that dies silently would drop notifications unnoticed, so it runs `SELECT 1` every
 * LISTEN_HEARTBEAT_MS and counts a late answer as lost: callers learn of a gap within about two
 * heartbeats.
 */
async function listenPostgres(
  connection: pg.ClientConfig,
  channel: string,
  handlers: ChangeHandlers,
): Promise<() => Promise<void>> {
  let stopped = false;
  let client: pg.Client | null = null;
  let heartbeat: NodeJS.Timeout | undefined;
  let retry: NodeJS.Timeout | undefined;
  let delay = 250;

  const lost = (failed: pg.Client) => {
    if (client !== failed) return;
    client = null;
    clearInterval(heartbeat);
    handlers.onState(false);
    failed.end().catch(() => undefined);
    if (!stopped) {
      retry = setTimeout(connect, delay);
      delay = Math.min(delay * 2, LISTEN_RETRY_MAX_MS);
    }
  };

  const connect = async (): Promise<void> => {
    const next = new pg.Client({
      ...connection,
      keepAlive: true,
      query_timeout: LISTEN_HEARTBEAT_MS,
      application_name: "garret-listen",
    });
    client = next;
    next.on("error", () => lost(next));
    next.on("end", () => lost(next));
    next.on("notification", (message) => {
      if (message.channel === channel) handlers.onNotify(message.payload ?? "");
    });
    try {
      await next.connect();
      await next.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    } catch {
      lost(next);
      return;
    }
    if (stopped || client !== next) return;
    delay = 250;
    handlers.onState(true);
    heartbeat = setInterval(() => {
      next.query("SELECT 1").catch(() => lost(next));
    }, LISTEN_HEARTBEAT_MS);
    heartbeat.unref();
  };

  await connect();
  return async () => {
    stopped = true;
    clearTimeout(retry);
    clearInterval(heartbeat);
    const current = client;
    client = null;
    await current?.end().catch(() => undefined);
  };
}

function pgSession(client: pg.PoolClient): SqlSession {
  const session: SqlSession = {
    dialect: "postgres",
    async query<T extends Record<string, unknown>>(text: string, params?: unknown[]) {
      const result = await client.query<T>(text, params);
      return result.rows;
    },
    async exec(text) {
      await client.query(text);
    },
    async transaction(fn) {
      await client.query("BEGIN");
      try {
        const result = await fn(session);
        await client.query("COMMIT");
        return result;
      } catch (err) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw err;
      }
    },
  };
  return session;
}
