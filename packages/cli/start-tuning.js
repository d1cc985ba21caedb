/**
 * Memory settings that only a process's start can take, for garretd (a long-running server; the
 * CLIs exit too soon to care). Measured under four concurrent uploads and sixteen downloads
 * (docs/performance.md, memory section):
 * - `MALLOC_ARENA_MAX=2`: glibc gives every thread that allocates (compression and read workers,
 *   libuv's pool) its own 64 MB arena and keeps what was freed in it; two arenas shared by all
 *   threads held ~140 MB less at peak. glibc reads it once, before any JavaScript runs.
 * - `MALLOC_MMAP_THRESHOLD_=131072`: glibc raises its mmap threshold as big blocks are freed (up
 *   to 32 MB), after which the megabyte-sized buffers of uploads and downloads come from the heap and
 *   their freed pages stay in it; a fixed 128 KiB threshold maps each such buffer and gives it back
 *   when freed. Quick load run, same code, quiet machine: peak 277.0 / 277.6 → 256.5 MiB, corpus
 *   push 34.2 → 35.0 MiB/s.
 * - `--max-semi-space-size=4`: V8 grows the young generation to 2 × 64 MB on this machine under
 *   allocation bursts (uploads, module loading) and never gives it back; 4 MB semi-spaces keep it
 *   at 8 MB. Upload CPU per MiB did not change measurably.
 * - `--heap-growing-percent=50`: V8 lets an old generation grow to 2-4 times what survived the
 *   last full collection before it collects again (the factor follows GC speed); under uploads the
 *   main thread's was 41-62 MiB at the peak, mostly dead objects (a heap snapshot, which collects
 *   first, held ~31 MiB in all, 6 MiB of it module sources). Growing by half at most keeps it at
 *   17-20 MiB: quick load run, same session, peak on Postgres 281.2 → 241.8 MiB (with one read
 *   worker fewer), and garretd's upload CPU-seconds within the runs' noise.
 * - `--expose-gc`: for the one compacting collection garretd runs once it has started and gone
 *   quiet (apps/garretd/src/ops/settle-memory.ts): idle RSS ~106 → ~89 MB. Nothing else calls it.
 * The launcher calls `relaunchTuned()` first: when any is missing it re-executes the same
 * command with them (`process.execve`: the same pid, nothing of the first image stays; ~30 ms of
 * CPU). An operator's own values win; a service that sets them all (deploy/garretd.service) skips
 * the re-exec. Plain JavaScript, because it runs before any TypeScript is loaded.
 */

export const TUNED_ENV = { MALLOC_ARENA_MAX: "2", MALLOC_MMAP_THRESHOLD_: "131072" };
export const TUNED_NODE_FLAGS = ["--max-semi-space-size=4", "--heap-growing-percent=50", "--expose-gc"];

/**
 * What to add to the command line and the environment; null when nothing is missing.
 * @param {readonly string[]} execArgv
 * @param {NodeJS.ProcessEnv} env
 * @returns {{ flags: string[]; env: Record<string, string> } | null}
 */
export function missingTuning(execArgv, env) {
  const given = [...execArgv, ...(env.NODE_OPTIONS ?? "").split(/\s+/)];
  const flags = TUNED_NODE_FLAGS.filter((f) => {
    const name = f.split("=")[0] ?? f;
    return !given.some((g) => g === name || g.startsWith(`${name}=`));
  });
  /** @type {Record<string, string>} */
  const extra = {};
  for (const [k, v] of Object.entries(TUNED_ENV)) if (env[k] === undefined) extra[k] = v;
  if (flags.length === 0 && Object.keys(extra).length === 0) return null;
  return { flags, env: extra };
}

/** Re-executes this process with the missing settings (never returns then); otherwise returns. */
export function relaunchTuned() {
  if (process.env.GARRET_START_TUNING === "0" || typeof process.execve !== "function") return;
  const missing = missingTuning(process.execArgv, process.env);
  if (!missing) return;
  const args = [process.execPath, ...process.execArgv, ...missing.flags, ...process.argv.slice(1)];
  process.execve(process.execPath, args, { ...process.env, ...missing.env });
}
