/**
 * What every query function takes first: the database or an open transaction, so callers compose
 * queries into one transaction without a second set of functions.
 */
import type { Db, DbTx, Orm } from "../client.ts";

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
