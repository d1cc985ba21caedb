#!/usr/bin/env node
/**
 * Fills the installation's compile cache (@garret/cli/compile-cache.js) with what garretd loads
 * (its bundle, which `npm ci` builds just before: build-bundle.js), so that the first start of a new
 * installation, in a fresh HOME, neither strips TypeScript nor loads the type stripper's
 * WebAssembly. Run by `npm ci` (the root `prepare` script); `npm run
 * fill-compile-cache` again after changing the sources is optional, as any start refills the cache.
 *
 * It starts garretd for real, through its launcher (so with the same Node flags, which V8's cache
 * entries depend on), in a throwaway HOME with no configuration: a first start on the embedded
 * default, the modules a restart loads and those only a first start needs. garretd writes the cache
 * once it listens; this then stops it. Never fails the install: without the cache, garretd works
 * as before, from the private cache in HOME.
 */
import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { INSTALLATION_COMPILE_CACHE } from "@garret/cli/compile-cache";

const TIMEOUT_MS = 120_000;

function warn(why) {
  process.stderr.write(`garret: compile cache not filled (${why}); garretd starts without it\n`);
}

async function fill() {
  if (!process.features.typescript) return warn(`Node ${process.version} cannot run garretd`);
  mkdirSync(INSTALLATION_COMPILE_CACHE, { recursive: true });
  // The launcher uses it only when nobody but its owner may write it; an umask of 002 would allow that.
  chmodSync(INSTALLATION_COMPILE_CACHE, 0o755);
  const home = mkdtempSync(join(tmpdir(), "garret-fill-compile-cache-"));
  const env = { ...process.env, HOME: home };
  for (const key of [
    "XDG_CONFIG_HOME",
    "XDG_CACHE_HOME",
    "XDG_DATA_HOME",
    "GARRET_DATA_DIR",
    "GARRET_COMPILE_CACHE",
    "GARRET_START_TUNING",
    "NODE_COMPILE_CACHE",
    "NODE_OPTIONS",
    "ATTIC_SERVER_CONFIG_BASE64",
    "ATTIC_SERVER_DATABASE_URL",
  ])
    delete env[key];
  const garretd = fileURLToPath(new URL("./garretd.js", import.meta.url));
  const child = spawn(process.execPath, [garretd, "--listen", "127.0.0.1:0", "--log-level", "info"], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  try {
    const listening = await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), TIMEOUT_MS);
      child.stdout.on("data", (b) => {
        output = (output + b.toString()).slice(-10_000);
        if (output.includes('"msg":"listening"')) {
          clearTimeout(timer);
          resolve(true);
        }
      });
      child.stderr.on("data", (b) => {
        output = (output + b.toString()).slice(-10_000);
      });
      child.once("exit", () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    if (!listening) warn(`garretd did not start: ${output.trim().split("\n").pop() ?? ""}`);
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      const stuck = setTimeout(() => child.kill("SIGKILL"), 30_000);
      await exited;
      clearTimeout(stuck);
    }
    rmSync(home, { recursive: true, force: true });
  }
}

try {
  await fill();
} catch (err) {
  warn(err instanceof Error ? err.message : String(err));
}
