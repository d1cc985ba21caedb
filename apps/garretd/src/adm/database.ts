/**
 * garretadm's database connection: the configuration's Postgres, or its SQLite file under the same
 * lock garretd holds (data-dir-lock.ts): while garretd runs on the SQLite database,
 * every command that needs the database refuses, naming the process, instead of reading stale
 * data or corrupting it. Migrations never run here; a database without garret's token tables gets
 * a message saying how to add them.
 */
import { createDb, type Db } from "@garret/db";
import { openLocalDatabase } from "../build-deps.ts";
import type { Config } from "../config/config.ts";
import { LegacyEmbeddedDatabaseError } from "../config/embedded-database.ts";
import { DataDirectoryBusyError } from "../data-dir-lock.ts";
import { AdmError } from "./command.ts";

export async function openAdmDatabase(config: Config, opts: { connectTimeoutMs?: number } = {}): Promise<Db> {
  const db =
    config.database.kind === "postgres"
      ? await createDb({
          kind: "postgres",
          url: config.database.url.expose(),
          poolSize: 1,
          connectTimeoutMs: opts.connectTimeoutMs ?? 10_000,
        })
      : await openEmbedded(config.database);
  try {
    await db.ping();
  } catch (err) {
    await db.close().catch(() => undefined);
    throw new AdmError(`cannot reach the database: ${(err as Error).message}`);
  }
  return db;
}

async function openEmbedded(database: Extract<Config["database"], { kind: "sqlite" }>): Promise<Db> {
  try {
    return await openLocalDatabase(database);
  } catch (err) {
    if (err instanceof LegacyEmbeddedDatabaseError) throw new AdmError(err.message);
    if (!(err instanceof DataDirectoryBusyError)) throw err;
    const holder = err.ownerPid === undefined ? "another process" : `process ${err.ownerPid} (garretd)`;
    throw new AdmError(
      `${holder} holds the database ${database.path}, which allows one process at a time: ` +
        "stop garretd first, or move to PostgreSQL ([database] url) to run garretadm next to it",
    );
  }
}

/** Turns "relation does not exist" into advice; other errors pass through. */
export function explainMissingTables(err: unknown): never {
  if (
    err instanceof Error &&
    /garret_token|garret_revoked_subject/.test(err.message) &&
    /does not exist/.test(err.message)
  ) {
    throw new AdmError(
      "the database has no token tables yet: run `garretd --mode db-migrations` (or start garretd) first",
    );
  }
  throw err;
}
