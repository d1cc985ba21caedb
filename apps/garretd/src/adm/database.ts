/**
 * garretadm's database connection: the configuration's Postgres, or its embedded PGlite data
 * directory (only safe while garretd is stopped: PGlite allows one process at a time). Migrations
 * never run here; a database without garret's token tables gets a message saying how to add them.
 */
import { createDb, type Db } from "@garret/db";
import type { Config } from "../config/config.ts";
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
      : await createDb({ kind: "pglite", dataDir: config.database.dataDir });
  try {
    await db.ping();
  } catch (err) {
    await db.close().catch(() => undefined);
    throw new AdmError(`cannot reach the database: ${(err as Error).message}`);
  }
  return db;
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
