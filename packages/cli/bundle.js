/**
 * The installation's bundles: garretd's and garretadm's sources and their dependencies built into a
 * few JavaScript files (apps/garretd/bin/build-bundle.js, run by `npm ci`), which a start loads in
 * about half the CPU of the ~440 modules they come from (docs/performance.md, round 5). They live
 * in `node_modules/.cache/garret/bundle/`, beside the compile cache.
 *
 * A bundle runs only while it is current: beside each one, `<name>.manifest.json` lists every file
 * it was built from (garret's sources and the dependencies' files it inlined) with its size and
 * modification time, and the launcher compares them with the files at each start (3–6 ms for ~330
 * files on the shared 2-core machine). Any difference (a developer edited a `.ts` file, `git pull`, the checkout moved) means the
 * sources run, exactly as without a bundle; `npm ci` or `npm run build-bundle` builds it again.
 * `GARRET_BUNDLE=0` runs the sources regardless. The worker threads follow the process: a bundle
 * starts the worker entries built with it (`worker.*.mjs`), the sources start theirs.
 *
 * Each build goes to a directory of its own (`build-<time>/`) and its manifests, replaced last and
 * atomically, name it: a process starting during a build runs the previous one whole, and the
 * builder keeps that previous directory for processes started from it that load a chunk later.
 *
 * A bundle is code that runs, so it must be as trusted as the sources: its directories must belong
 * to the owner of this file and be writable by nobody else. Plain JavaScript, because the launchers
 * load it before any TypeScript.
 */
import { lstatSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** The checkout's root directory: the manifests name files relative to it. */
export const CHECKOUT = fileURLToPath(new URL("../../", import.meta.url));
export const BUNDLE_DIR = join(CHECKOUT, "node_modules", ".cache", "garret", "bundle");
const MANIFEST_VERSION = 1;

/**
 * @typedef {{ version: number; checkout: string; entry: string; inputs: Array<[string, number, number]> }} Manifest
 * `entry`: the entry file, relative to BUNDLE_DIR; `inputs`: [path relative to the checkout, size,
 * mtimeMs] of every file the bundle was built from.
 */

/** @param {string} name */
export const manifestPath = (name) => join(BUNDLE_DIR, `${name}.manifest.json`);

/**
 * The manifest of a bundle built now from `files` (absolute paths under the checkout).
 * @param {string} entry the entry file, relative to BUNDLE_DIR
 * @param {Iterable<string>} files
 * @returns {Manifest}
 */
export function manifestOf(entry, files) {
  /** @type {Array<[string, number, number]>} */
  const inputs = [];
  for (const file of new Set(files)) {
    if (!file.startsWith(CHECKOUT)) throw new Error(`bundle input outside the checkout: ${file}`);
    const info = statSync(file);
    inputs.push([file.slice(CHECKOUT.length), info.size, info.mtimeMs]);
  }
  inputs.sort((a, b) => (a[0] < b[0] ? -1 : 1));
  return { version: MANIFEST_VERSION, checkout: CHECKOUT, entry, inputs };
}

/**
 * @param {string} dir
 * @param {number} owner
 */
function trusted(dir, owner) {
  const info = lstatSync(dir);
  return info.isDirectory() && info.uid === owner && (info.mode & 0o022) === 0;
}

/**
 * The URL of the bundle `name` when it exists and every file it was built from is unchanged; null
 * otherwise (run the sources).
 * @param {string} name
 * @param {NodeJS.ProcessEnv} env
 * @returns {string | null}
 */
export function currentBundle(name, env = process.env) {
  if (env.GARRET_BUNDLE === "0") return null;
  try {
    const owner = statSync(fileURLToPath(import.meta.url)).uid;
    if (!trusted(BUNDLE_DIR, owner)) return null;
    /** @type {Manifest} */
    const manifest = JSON.parse(readFileSync(manifestPath(name), "utf8"));
    if (manifest.version !== MANIFEST_VERSION || manifest.checkout !== CHECKOUT) return null;
    const entry = join(BUNDLE_DIR, manifest.entry);
    if (!trusted(dirname(entry), owner)) return null;
    for (const [path, size, mtimeMs] of manifest.inputs) {
      const info = statSync(CHECKOUT + path);
      if (info.size !== size || info.mtimeMs !== mtimeMs) return null;
    }
    return pathToFileURL(entry).href;
  } catch {
    // No bundle (`npm ci --ignore-scripts` or `--omit=dev`), or an input is gone: the sources.
    return null;
  }
}
