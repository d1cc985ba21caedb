/**
 * An exclusive lock beside the embedded SQLite database, taken by every process that opens it:
 * garretd in any mode and every garretadm command. SQLite itself keeps two processes from
 * corrupting the file, but garretd's in-process collector and memory of lookups assume they are
 * alone, so a second process (say `garretadm gc` next to a running server) is refused, naming the
 * holder. The lock file
 * (`server.db.garretd.lock`) holds the owner's pid; a stale lock whose process is gone is taken over.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export class DataDirectoryBusyError extends Error {
  readonly dataDir: string;
  readonly ownerPid: number | undefined;
  constructor(message: string, dataDir: string, ownerPid?: number) {
    super(message);
    this.dataDir = dataDir;
    this.ownerPid = ownerPid;
  }
}

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

export function lockDataDirectory(
  dataDir: string,
  opts: { lockName?: string; what?: string } = {},
): DirectoryLock {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, opts.lockName ?? "garretd.lock");
  const what = opts.what ?? `the embedded database in ${dataDir}`;
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
          `${what} is in use by process ${owner}; it allows one process at a time (stop that one first, or use PostgreSQL for several processes)`,
          dataDir,
          owner,
        );
      }
      rmSync(path, { force: true });
    }
  }
  throw new DataDirectoryBusyError(`could not lock ${what}`, dataDir);
}
