/**
 * How values look in an SQLite database atticd can read: timestamps as RFC 3339 text with a
 * `+00:00` offset (what sqlx writes for chrono's `DateTime<Utc>`: `2026-01-01T00:00:00.123456789+00:00`,
 * fractional digits only when non-zero), booleans as 0/1, JSON as text.
 *
 * Text timestamps of one offset compare in time order as strings, whatever their number of
 * fractional digits (`…:01+00:00` < `…:01.5+00:00` because `+` sorts before `.`), so range
 * conditions work on them directly.
 */

/** `2026-01-01T00:00:00.123+00:00` (milliseconds dropped when zero, as chrono's AutoSi does). */
export function formatSqliteTimestamp(at: Date): string {
  const iso = at.toISOString();
  return `${iso.endsWith(".000Z") ? iso.slice(0, -5) : iso.slice(0, -1)}+00:00`;
}

const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z$/;

/** A bound parameter as SQLite stores it. */
export function toSqliteValue(value: unknown): null | number | bigint | string | Uint8Array {
  if (value === null || value === undefined) return null;
  if (typeof value === "boolean") return value ? 1 : 0;
  if (value instanceof Date) return formatSqliteTimestamp(value);
  // drizzle turns Date parameters of timestamp columns into toISOString() text before they get here.
  if (typeof value === "string") return ISO_UTC.test(value) ? formatSqliteTimestamp(new Date(value)) : value;
  if (typeof value === "number" || typeof value === "bigint" || value instanceof Uint8Array) return value;
  if (Array.isArray(value)) return JSON.stringify(value);
  throw new TypeError(`cannot bind a ${typeof value} to SQLite`);
}

/** A timestamp column read back (text on SQLite, Date from Postgres drivers). */
export function toDate(value: unknown): Date {
  if (value instanceof Date) return value;
  if (typeof value === "string" || typeof value === "number") return new Date(value);
  throw new TypeError(`not a timestamp: ${String(value)}`);
}

export function toDateOrNull(value: unknown): Date | null {
  return value === null || value === undefined ? null : toDate(value);
}

/** A boolean column read back (0/1 on SQLite, boolean from Postgres drivers). */
export function toBoolean(value: unknown): boolean {
  return value === true || value === 1 || value === 1n;
}
