/**
 * Node's compile cache for garret's processes: the JavaScript Node strips from our TypeScript and the
 * bytecode V8 compiles are kept on disk, so a start that finds them skips both (garretd's start
 * needs ~40% less CPU, and the type stripper's WebAssembly, ~25 MB resident, never loads).
 *
 * Code runs from the cache as it is, so it must be as trusted as the code itself:
 * - the installation's own cache, `node_modules/.cache/garret/node-compile-cache` beside the
 *   sources, when it is a directory this user owns that nobody else may write. `npm ci` fills it
 *   (the `prepare` script, fill-compile-cache.js) with what a first garretd start loads, so even the
 *   very first start, in a fresh HOME, finds its modules stripped and compiled;
 * - otherwise a private one, `$XDG_CACHE_HOME/garret/node-compile-cache` (or `~/.cache/...`),
 *   created 0700, under the same rule; never Node's default under the shared /tmp.
 * `NODE_COMPILE_CACHE` (Node's own variable) wins when set; `GARRET_COMPILE_CACHE=0` turns the
 * cache off. Any failure just means no cache. Plain JavaScript, because the launchers load it
 * before any TypeScript.
 *
 * `enableCompileCache` covers this thread only; worker threads enable the cache from
 * `NODE_COMPILE_CACHE` in their environment, a copy of `process.env`. So the chosen directory is also
 * put there: when garretd runs its sources, its compression workers load TypeScript too, and without
 * it every one loaded the type stripper, ~12 MB resident per worker, and stripped its modules again
 * at each start (docs/performance.md). From the bundle they load its JavaScript worker entries.
 */
import { lstatSync, mkdirSync } from "node:fs";
import { constants, enableCompileCache } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const INSTALLATION_COMPILE_CACHE = fileURLToPath(
  new URL("../../node_modules/.cache/garret/node-compile-cache", import.meta.url),
);

/** @param {string} dir */
function ownedAndPrivate(dir) {
  const info = lstatSync(dir);
  return info.isDirectory() && info.uid === process.getuid?.() && (info.mode & 0o022) === 0;
}

/**
 * Enables the cache in `dir` here and, through `env`, in the worker threads started later.
 * @param {string} dir
 * @param {NodeJS.ProcessEnv} env
 */
function enableIn(dir, env) {
  const { status } = enableCompileCache(dir);
  if (
    status === constants.compileCacheStatus.ENABLED ||
    status === constants.compileCacheStatus.ALREADY_ENABLED
  ) {
    env.NODE_COMPILE_CACHE = dir;
  }
}

/** @param {NodeJS.ProcessEnv} env */
export function enablePrivateCompileCache(env = process.env) {
  if (env.GARRET_COMPILE_CACHE === "0" || env.NODE_COMPILE_CACHE || env.NODE_DISABLE_COMPILE_CACHE) return;
  try {
    if (ownedAndPrivate(INSTALLATION_COMPILE_CACHE)) {
      enableIn(INSTALLATION_COMPILE_CACHE, env);
      return;
    }
  } catch {
    // Not filled (`npm ci --ignore-scripts`, a copied tree) or not ours: the private cache below.
  }
  const base = env.XDG_CACHE_HOME || (env.HOME ? join(env.HOME, ".cache") : undefined);
  if (!base?.startsWith("/")) return;
  const dir = join(base, "garret", "node-compile-cache");
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!ownedAndPrivate(dir)) return;
    enableIn(dir, env);
  } catch {
    // An unwritable HOME (a sandboxed service) runs without the cache.
  }
}
