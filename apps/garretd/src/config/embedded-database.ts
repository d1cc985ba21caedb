/**
 * The embedded database: an SQLite file in the data directory, and what garret does when that
 * directory still holds the PGlite database garret kept there before SQLite.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";

/** The embedded database's file name in the data directory (atticd's first start uses the same). */
export const EMBEDDED_SQLITE_FILE = "server.db";

/** Where garret before SQLite kept its embedded PGlite (Postgres) database, in the data directory. */
export const LEGACY_PGLITE_DIR = "db";

export class LegacyEmbeddedDatabaseError extends Error {}

/**
 * Refuses the embedded default when its SQLite file does not exist yet but the data directory holds
 * an earlier garret's PGlite database: starting afresh beside it would hide that database's caches,
 * their signing keys and its tokens behind a new, empty one. Nothing is created before this check.
 */
export function refuseLegacyPgliteDatabase(
  sqlitePath: string,
  exists: (path: string) => boolean = existsSync,
): void {
  const legacy = join(dirname(sqlitePath), LEGACY_PGLITE_DIR);
  if (exists(sqlitePath) || !exists(join(legacy, "PG_VERSION"))) return;
  throw new LegacyEmbeddedDatabaseError(
    `${legacy} holds the embedded PGlite database of an earlier garret, which this garret no longer ` +
      `reads (its embedded database is the SQLite file ${sqlitePath}). Keep running the earlier garret ` +
      `on it, or move its data as README's "Upgrading from the PGlite embedded database" says; ` +
      `to start afresh instead, move ${legacy} out of the data directory`,
  );
}
