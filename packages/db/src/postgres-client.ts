/**
 * The Postgres side of `client.ts`: a node-postgres pool behind drizzle, LISTEN on a dedicated
 * connection, and plain-SQL sessions on one pooled connection. Imported by `createDb` only for a
 * Postgres configuration.
 */
import { drizzle as drizzleNodePg } from "drizzle-orm/node-postgres";
import pg from "pg";
import type { ChangeHandlers, Db, DbConfig, Orm, SqlSession, Tables } from "./client.ts";

const INT8_OID = 20;

/** int8 → number: ids and byte sizes stay far below 2^53. */
function parseInt8(value: string): number {
  return Number(value);
}

export function createPostgresDb(config: Extract<DbConfig, { kind: "postgres" }>, tables: Tables): Db {
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
