/**
 * What every query function takes first: the database or an open transaction, so callers compose
 * queries into one transaction without a second set of functions.
 */
import { sql } from "drizzle-orm";
import type { Db, DbTx, Orm } from "../client.ts";
import { isSqlite, sqliteRows } from "../dialect.ts";

export type Executor = Db | DbTx;

export function ormOf(executor: Executor): Orm {
  return "orm" in executor ? executor.orm : executor;
}

/**
 * Rows of a raw `execute()` result; node-postgres returns `{ rows }`, the proxy
 * session of SQLite the rows themselves. Raw results skip drizzle's column mapping, so numeric,
 * boolean and time columns must be converted by the caller.
 */
export function rowsOf<T>(result: unknown): T[] {
  if (Array.isArray(result)) return result as T[];
  const rows = (result as { rows?: unknown }).rows;
  if (!Array.isArray(rows)) throw new TypeError("query result has no rows array");
  return rows as T[];
}

/**
 * Rows of one `$n` statement that both engines accept, on the database or inside a transaction.
 * Hot statements are written this way rather than through the ORM, whose query building cost the
 * upload's main thread more than running them: on Postgres outside a transaction as a named
 * prepared statement (`name`, one text per name), on SQLite from the connection's statement cache.
 */
export async function rawRows<T extends Record<string, unknown>>(
  executor: Executor,
  text: string,
  params: readonly unknown[],
  name?: string,
): Promise<T[]> {
  if (isSqlite(executor)) return sqliteRows<T>(executor, text, params);
  if ("orm" in executor) return executor.query<T>(text, [...params], name);
  return rowsOf<T>(await executor.execute(withParams(text, params)));
}

const splitTexts = new Map<string, string[]>();

/** A `$n` text with its parameters as a drizzle query (drizzle numbers them again in order; an array stays one parameter). */
function withParams(text: string, params: readonly unknown[]) {
  let parts = splitTexts.get(text);
  if (!parts) {
    parts = text.split(/\$(\d+)/);
    splitTexts.set(text, parts);
  }
  const query = sql.empty();
  parts.forEach((part, i) => {
    query.append(i % 2 === 0 ? sql.raw(part) : sql`${sql.param(params[Number(part) - 1])}`);
  });
  return query;
}
