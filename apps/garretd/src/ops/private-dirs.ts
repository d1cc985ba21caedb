/**
 * Nothing garret writes is readable by other local users (issue 14). Signing keys live in the
 * database (the embedded one's files included), private caches' contents in chunk files:
 *
 *   - the processes run under umask 077 (`restrictUmask`, first thing in both entry points), so
 *     every file they create is 0600 and every directory 0700, whatever the caller's umask;
 *   - the roots they write under (the SQLite database's directory, local storage) are created
 *     0700, and an existing root open to group or others is narrowed to 0700 with a warning, since
 *     a private root keeps everything below it private whatever modes older files have; a root
 *     garretd cannot narrow (not its owner) stops the start with a message saying what to run.
 *
 * The first-start `server.toml` is written 0600 by the setup itself (oobe.ts).
 */
import { chmodSync, mkdirSync, statSync } from "node:fs";
import { dirname } from "node:path";
import type { Config } from "../config/config.ts";

export const PRIVATE_UMASK = 0o077;

export function restrictUmask(): void {
  process.umask(PRIVATE_UMASK);
}

export interface PrivateRoot {
  /** What lives there, for messages: "embedded database", "local storage". */
  what: string;
  path: string;
}

export class PrivateDirError extends Error {}

export function privateRoots(config: Config): PrivateRoot[] {
  const roots: PrivateRoot[] = [];
  if (config.database.kind === "sqlite" && config.database.path !== ":memory:") {
    // The directory holding the file: SQLite keeps its -wal and -shm files beside it.
    roots.push({ what: "SQLite database", path: dirname(config.database.path) });
  }
  if (config.storage.type === "local") roots.push({ what: "local storage", path: config.storage.path });
  return roots;
}

const octal = (mode: number) => `0${(mode & 0o777).toString(8)}`;

/**
 * Creates missing roots 0700 and narrows existing ones open to others. Returns one warning per
 * root it narrowed; throws PrivateDirError for a root it cannot make private.
 */
export function securePrivateRoots(roots: readonly PrivateRoot[]): string[] {
  const warnings: string[] = [];
  for (const { what, path } of roots) {
    let mode: number;
    try {
      mode = statSync(path).mode;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      mkdirSync(path, { recursive: true, mode: 0o700 });
      // mkdir's mode passes through the umask; say it explicitly for the root itself.
      chmodSync(path, 0o700);
      continue;
    }
    if ((mode & 0o077) === 0) continue;
    try {
      chmodSync(path, 0o700);
    } catch (err) {
      throw new PrivateDirError(
        `the ${what} directory ${path} is open to other local users (mode ${octal(mode)}) and garretd ` +
          `cannot change that (${(err as NodeJS.ErrnoException).code ?? String(err)}): run ` +
          `'chmod 700 ${path}' as its owner, or point garretd at a private directory`,
      );
    }
    warnings.push(
      `the ${what} directory ${path} was open to other local users (mode ${octal(mode)}); ` +
        "garretd changed it to 0700",
    );
  }
  return warnings;
}
