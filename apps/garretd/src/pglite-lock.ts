/**
 * An exclusive lock on an embedded PGlite data directory. PGlite is Postgres compiled to WASM and
 * running inside one process: a second process opening the same directory (say a
 * `--mode garbage-collector-once` next to a running server) would not see the first one's writes
 * and could corrupt the files. The lock file holds the owner's pid; a stale lock whose process is
 * gone is taken over.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export class DataDirectoryBusyError extends Error {}

export interface DirectoryLock {
  release(): void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export function lockDataDirectory(dataDir: string): DirectoryLock {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, "garretd.lock");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: "wx", mode: 0o600 });
      return {
        release() {
          rmSync(path, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const owner = Number.parseInt(readFileSync(path, "utf8"), 10);
      if (Number.isInteger(owner) && owner !== process.pid && alive(owner)) {
        throw new DataDirectoryBusyError(
          `the embedded database in ${dataDir} is in use by garretd process ${owner}; PGlite allows one process at a time (stop it first, or use PostgreSQL for several processes)`,
        );
      }
      rmSync(path, { force: true });
    }
  }
  throw new DataDirectoryBusyError(`could not lock the embedded database in ${dataDir}`);
}
