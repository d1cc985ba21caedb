/**
 * What the benchmark must undo however it ends: child processes it started (nginx, garretd, s3rver,
 * load generators) and temporary directories. Cleanups run last-registered first, once, on normal
 * exit, on an error and on SIGINT/SIGTERM, so that a failed run leaves no server listening.
 */
import { type ChildProcess, type SpawnOptions, spawn } from "node:child_process";
import { chmod, lstat, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

type Cleanup = () => Promise<void> | void;

const cleanups: Cleanup[] = [];
let ran = false;

/** Registers `fn`; the returned function runs it early (and unregisters it). */
export function onCleanup(fn: Cleanup): () => Promise<void> {
  cleanups.push(fn);
  return async () => {
    const i = cleanups.indexOf(fn);
    if (i >= 0) {
      cleanups.splice(i, 1);
      await fn();
    }
  };
}

export async function runCleanups(): Promise<void> {
  if (ran) return;
  ran = true;
  while (cleanups.length > 0) {
    const fn = cleanups.pop();
    try {
      await fn?.();
    } catch (err) {
      process.stderr.write(`bench: cleanup failed: ${err instanceof Error ? err.message : String(err)}\n`);
    }
  }
}

/** SIGINT/SIGTERM: clean up, then exit with the conventional 128+signal status. */
export function installSignalHandlers(): void {
  for (const [signal, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const) {
    process.once(signal, () => {
      process.stderr.write(`\nbench: ${signal}, cleaning up\n`);
      void runCleanups().finally(() => process.exit(code));
    });
  }
}

/** A temporary directory removed at cleanup (read-only Nix output trees included). */
export async function tempDir(label: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `garret-bench-${label}-`));
  onCleanup(() => removeTree(dir));
  return dir;
}

export async function removeTree(dir: string): Promise<void> {
  await makeWritable(dir);
  await rm(dir, { recursive: true, force: true });
}

async function makeWritable(dir: string): Promise<void> {
  const info = await lstat(dir).catch(() => undefined);
  if (!info?.isDirectory()) return;
  if ((info.mode & 0o200) === 0) await chmod(dir, info.mode | 0o700);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) await makeWritable(join(dir, entry.name));
  }
}

/**
 * Spawns a long-running child that is killed at cleanup: SIGTERM, then SIGKILL after `graceMs`.
 * The returned `stop` does the same early.
 */
export function spawnTracked(
  command: string,
  args: readonly string[],
  options: SpawnOptions & { graceMs?: number } = {},
): { child: ChildProcess; stop: () => Promise<void> } {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], ...options });
  const graceMs = options.graceMs ?? 20_000;
  const kill = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
  };
  const stop = onCleanup(kill);
  return { child, stop };
}
