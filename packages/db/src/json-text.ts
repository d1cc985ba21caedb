/**
 * A `varchar` column that holds a JSON string array, as atticd stores `object.references`,
 * `object.sigs` and `cache.upstream_cache_key_names` (serde_json text, e.g. `["a-b","c-d"]`, never
 * a native json/jsonb column, so SQLite and Postgres deployments share one entity definition).
 *
 * `JSON.stringify` of a string array is byte-identical to serde_json's compact output, so rows
 * written by garret read back unchanged in atticd and vice versa.
 */
import { customType } from "drizzle-orm/pg-core";

export const jsonStringArray = customType<{ data: string[]; driverData: string }>({
  dataType() {
    return "varchar";
  },
  toDriver(value) {
    return JSON.stringify(value);
  },
  fromDriver(value) {
    return parseJsonStringArray(value);
  },
});

/** Parses a stored JSON string array; anything else is a corrupt row and throws. */
export function parseJsonStringArray(text: string): string[] {
  const value: unknown = JSON.parse(text);
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
    throw new TypeError(`expected a JSON array of strings, got ${text.slice(0, 100)}`);
  }
  return value;
}
