/**
 * A start-up check for the mistake of pointing garretd at another database (a changed
 * `[database] url`, a deleted data directory) while the storage stays: the database records no
 * chunk at all, yet the storage holds chunk files. Nothing would ever serve or collect them, and
 * every cache the operator expects looks gone. garretd says so loudly, naming both places, and
 * carries on (an empty database over non-empty storage can also be intended: say a restore in
 * progress); it deletes nothing.
 */
import { hasAnyChunk } from "@garret/db";
import type { Config } from "../config/config.ts";
import type { Deps } from "../deps.ts";

export function describeDatabase(config: Config): string {
  if (config.database.kind === "sqlite") return `the SQLite database ${config.database.path}`;
  try {
    const url = new URL(config.database.url.expose());
    return `PostgreSQL database ${url.pathname.slice(1) || "(default)"} at ${url.host}`;
  } catch {
    return "the configured PostgreSQL database";
  }
}

export function describeStorage(config: Config): string {
  const s = config.storage;
  return s.type === "local"
    ? `local storage in ${s.path}`
    : `S3 bucket ${s.bucket}${s.endpoint ? ` at ${s.endpoint}` : ""}`;
}

/** Returns the warning it printed, or null when the database and the storage agree. */
export async function warnIfStorageWithoutIndex(
  config: Config,
  deps: Pick<Deps, "db" | "storage" | "log">,
  stderr: (text: string) => void,
): Promise<string | null> {
  if (await hasAnyChunk(deps.db)) return null;
  const sample = await deps.storage.anyObjectName();
  if (sample === null) return null;
  const message =
    `${describeStorage(config)} holds chunk files (e.g. ${sample}), but ${describeDatabase(config)} ` +
    "records no chunks at all: was [database] changed, or the database reset? Those files will never be " +
    "served or collected. Point [database] back at the database that goes with this storage, or give " +
    "this database a new, empty [storage] location.";
  deps.log.warn("storage holds chunks the database does not know", {
    database: describeDatabase(config),
    storage: describeStorage(config),
    sample,
  });
  stderr(`\nWARNING: ${message}\n\n`);
  return message;
}
