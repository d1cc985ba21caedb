/**
 * Which SQL dialect an executor (database, transaction or session) speaks, for the queries whose
 * text differs between Postgres and SQLite. Postgres (and PGlite) is the default; the SQLite client
 * registers a runner for each of its executors here.
 */

/** Raw statement runner for SQLite-specific SQL (`?n` placeholders, values as `toSqliteValue`). */
export interface SqliteRunner {
  all<T extends Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<T[]>;
}

const runners = new WeakMap<object, SqliteRunner>();

export function registerSqliteRunner(executor: object, runner: SqliteRunner): void {
  runners.set(executor, runner);
}

/** Whether this database, transaction or session runs on SQLite. */
export function isSqlite(executor: object): boolean {
  return runners.has(executor);
}

/** Runs SQLite SQL on the executor's connection (inside its transaction when it is one). */
export function sqliteRunner(executor: object): SqliteRunner {
  const runner = runners.get(executor);
  if (!runner) throw new TypeError("not an SQLite database, transaction or session");
  return runner;
}

/** Rows of SQLite-specific SQL on this executor. */
export function sqliteRows<T extends Record<string, unknown>>(
  executor: object,
  text: string,
  params: readonly unknown[] = [],
): Promise<T[]> {
  return sqliteRunner(executor).all<T>(text, params);
}
