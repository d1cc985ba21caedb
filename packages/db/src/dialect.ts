/**
 * Which SQL dialect an executor (database, transaction or session) speaks, for the queries whose
 * text differs between Postgres and SQLite. Postgres is the default; the SQLite client
 * registers a runner for each of its executors here.
 */

/** Raw statement runner for SQLite-specific SQL (`?n` placeholders, values as `toSqliteValue`). */
export interface SqliteRunner {
  all<T extends Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<T[]>;
}

/**
 * Where an executor keeps its runner: an enumerable own property, so a wrapper made by spreading
 * the database (`{ ...db, close }`, as the process's lock holder does) still speaks SQLite.
 */
const RUNNER = Symbol("garret.sqliteRunner");

export function registerSqliteRunner(executor: object, runner: SqliteRunner): void {
  Object.defineProperty(executor, RUNNER, { value: runner, enumerable: true });
}

/** Whether this database, transaction or session runs on SQLite. */
export function isSqlite(executor: object): boolean {
  return RUNNER in executor;
}

/** Runs SQLite SQL on the executor's connection (inside its transaction when it is one). */
export function sqliteRunner(executor: object): SqliteRunner {
  const runner = (executor as { [RUNNER]?: SqliteRunner })[RUNNER];
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
