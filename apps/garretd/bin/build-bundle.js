#!/usr/bin/env node
/**
 * Builds the bundles of garretd and garretadm (@garret/cli/bundle.js says when a launcher runs one)
 * with rolldown, in one build that shares their common chunks: the TypeScript sources from
 * apps/garretd/src/cli.ts and adm/cli.ts and the dependencies they load, as ES modules in
 * `node_modules/.cache/garret/bundle/`. Run by `npm ci` (the root `prepare` script, before the
 * compile cache is filled) and by `npm run build-bundle`. Never fails the install: without
 * rolldown (`npm ci --omit=dev`) or after an error, both run from the sources.
 *
 * - Code a start does not need stays behind a dynamic import, each in a chunk of its own (the CLI
 *   commands, the Postgres client, S3): no single file, or the externals those parts import would be
 *   imported at start.
 * - External, loaded from node_modules as before, only when used: `pg`, the AWS SDK and `jose` (not
 *   loaded on an SQLite start, first-start.test.ts) and piscina (it starts its own worker file).
 * - `import.meta.url` in garret's own modules becomes the source file's URL, so what it locates
 *   (`migrations/`, package.json, the launchers) is found in the checkout as it is when the sources
 *   run.
 * - Except a module under a `src/` directory located that way (`new URL("./x-worker.ts",
 *   import.meta.url)`): nothing imports a module through a URL but another thread, so it is a
 *   worker thread's entry (a `Worker`, a piscina pool, a piscina task's `filename`). It is built as
 *   an entry of its own, `worker.<its path>.mjs` beside the bundle, and the URL names that file: the
 *   worker threads of a bundled garretd run bundled JavaScript too, so even the first after an
 *   install, with nothing in the compile cache for them, strips no TypeScript and never loads the
 *   type stripper (~4 MiB of heap per worker, docs/performance.md). first-start.test.ts checks every
 *   worker thread an upload, a download and WAL checkpoints start.
 */
import { chmodSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { BUNDLE_DIR, CHECKOUT, manifestOf, manifestPath } from "@garret/cli/bundle";

/** The bundles' names (the launchers ask for them) and their entry modules; built together. */
const ENTRIES = {
  garretd: fileURLToPath(new URL("../src/cli.ts", import.meta.url)),
  garretadm: fileURLToPath(new URL("../src/adm/cli.ts", import.meta.url)),
};
const EXTERNAL = [
  /^node:/,
  /^pg($|\/)/,
  /^pg-/,
  /^@aws-sdk\//,
  /^@smithy\//,
  /^jose($|\/)/,
  /^piscina($|\/)/,
];
/**
 * Files besides the modules whose change makes a bundle stale: how it is built. Not package-lock.json:
 * a dependency that changes changes its files, which are inputs, and `npm prune --omit=dev` (which
 * keeps a bundle while removing rolldown) rewrites the lock unchanged.
 */
const BUILD_INPUTS = [
  fileURLToPath(import.meta.url),
  fileURLToPath(new URL("../../../packages/cli/bundle.js", import.meta.url)),
];

function warn(why) {
  process.stderr.write(`garret: bundle not built (${why}); garretd and garretadm run from their sources\n`);
}

/** `new URL("<literal>", import.meta.url)`: what a module locates beside itself. */
const LOCATED = /new URL\(\s*(["'`])([^"'`$]+)\1\s*,\s*import\.meta\.url\s*\)/g;
/** A module of garret's sources: located by URL, a worker thread's entry. */
const SOURCE_MODULE = /^(apps|packages)\/[^/]+\/src\/.+\.(ts|mts|cts|js|mjs|cjs)$/;

/**
 * Rolldown plugin for the bundle written to `dir`: a worker thread's entry module (a source module
 * located through `new URL(…, import.meta.url)`) becomes an entry of its own in `dir`, and the URL
 * names it there. Then `import.meta.url`, `.filename` and `.dirname` in garret's own modules are their
 * source file's. Any other `import.meta` left in the output would mean the bundle's location, so the
 * build refuses it (the sources then run).
 * @param {string} dir
 */
function sourceUrls(dir) {
  /** @type {Map<string, string>} worker entry module -> its file in `dir` */
  const workers = new Map();
  return {
    name: "garret-source-urls",
    transform: {
      filter: { id: { exclude: /\/node_modules\// }, code: { include: "import.meta" } },
      handler(code, id) {
        const located = code.replace(LOCATED, (whole, _quote, relative) => {
          const target = fileURLToPath(new URL(relative, pathToFileURL(id)));
          const path = target.startsWith(CHECKOUT) ? target.slice(CHECKOUT.length) : "";
          if (!SOURCE_MODULE.test(path)) return whole;
          let fileName = workers.get(target);
          if (!fileName) {
            fileName = `worker.${path.replace(/\.[^.]+$/, "").replaceAll("/", ".")}.mjs`;
            workers.set(target, fileName);
            // Its exports are what the worker's host calls (piscina runs a task by export name).
            this.emitFile({ type: "chunk", id: target, fileName, preserveSignature: "strict" });
          }
          return `new URL(${JSON.stringify(pathToFileURL(join(dir, fileName)).href)})`;
        });
        return {
          code: located
            .replaceAll("import.meta.url", JSON.stringify(pathToFileURL(id).href))
            .replaceAll("import.meta.filename", JSON.stringify(id))
            .replaceAll("import.meta.dirname", JSON.stringify(dirname(id))),
        };
      },
    },
    renderChunk(code, chunk) {
      if (code.includes("import.meta")) throw new Error(`import.meta left in ${chunk.fileName}`);
      return null;
    },
  };
}

/** The build directory the current manifests name, if any. */
function currentBuild() {
  try {
    return JSON.parse(readFileSync(manifestPath("garretd"), "utf8")).entry.split("/")[0];
  } catch {
    return undefined;
  }
}

async function buildBundle() {
  let rolldown;
  try {
    rolldown = await import("rolldown");
  } catch {
    return warn("rolldown is not installed");
  }
  // Only its owner may write code that the launcher runs (@garret/cli/bundle.js).
  mkdirSync(BUNDLE_DIR, { recursive: true });
  chmodSync(BUNDLE_DIR, 0o755);
  const build = `build-${Date.now()}`;
  const dir = join(BUNDLE_DIR, build);
  mkdirSync(dir);
  chmodSync(dir, 0o755);
  let result;
  try {
    result = await rolldown.build({
      input: ENTRIES,
      platform: "node",
      external: EXTERNAL,
      plugins: [sourceUrls(dir)],
      logLevel: "warn",
      output: { dir, format: "esm", entryFileNames: "[name].mjs", chunkFileNames: "[name].mjs" },
    });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  // Every entry's manifest lists every input: an edit anywhere makes both bundles stale.
  const modules = result.output.flatMap((o) => (o.type === "chunk" ? o.moduleIds : []));
  const files = [...modules.filter((id) => id.startsWith("/")), ...BUILD_INPUTS];
  const previous = currentBuild();
  for (const name of Object.keys(ENTRIES)) {
    const staged = `${manifestPath(name)}.${process.pid}`;
    writeFileSync(staged, JSON.stringify(manifestOf(`${build}/${name}.mjs`, files)));
    renameSync(staged, manifestPath(name));
  }
  // Older builds go; the previous one stays for processes started from it that load a chunk later.
  for (const entry of readdirSync(BUNDLE_DIR)) {
    if (/^(build|garretd)-\d+$/.test(entry) && entry !== build && entry !== previous)
      rmSync(join(BUNDLE_DIR, entry), { recursive: true, force: true });
  }
}

try {
  await buildBundle();
} catch (err) {
  warn(err instanceof Error ? err.message : String(err));
}
