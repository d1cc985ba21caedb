/**
 * Node's compile cache for garret's processes: the JavaScript Node strips from our TypeScript and the
 * bytecode V8 compiles are kept on disk, so every start after the first skips both (garretd's start
 * needs ~40% less CPU, and the type stripper's WebAssembly, ~30 MB resident, never loads). Plain
 * JavaScript, because the launchers load it before any TypeScript.
 *
 * Code runs from the cache as it is, so it must be private: `$XDG_CACHE_HOME/garret/node-compile-cache`
 * (or `~/.cache/...`), created 0700, used only when this user owns it and nobody else may write it;
 * never Node's default under the shared /tmp. `NODE_COMPILE_CACHE` (Node's own variable) wins when
 * set; `GARRET_COMPILE_CACHE=0` turns the cache off. Any failure just means no cache.
 */
import { lstatSync, mkdirSync } from "node:fs";
import { enableCompileCache } from "node:module";
import { join } from "node:path";

/** @param {NodeJS.ProcessEnv} env */
export function enablePrivateCompileCache(env = process.env) {
  if (env.GARRET_COMPILE_CACHE === "0" || env.NODE_COMPILE_CACHE || env.NODE_DISABLE_COMPILE_CACHE) return;
  const base = env.XDG_CACHE_HOME || (env.HOME ? join(env.HOME, ".cache") : undefined);
  if (!base?.startsWith("/")) return;
  const dir = join(base, "garret", "node-compile-cache");
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const info = lstatSync(dir);
    if (!info.isDirectory() || info.uid !== process.getuid?.() || (info.mode & 0o022) !== 0) return;
    enableCompileCache(dir);
  } catch {
    // An unwritable HOME (a sandboxed service) runs without the cache.
  }
}
