/**
 * The compile cache the launchers enable (compile-cache.js) also serves the worker threads a
 * process starts later: a TypeScript module only a worker loads gets its entry in the same cache,
 * so the next worker finds it stripped and never loads the type stripper.
 */
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";

const run = promisify(execFile);
const COMPILE_CACHE_JS = new URL("../compile-cache.js", import.meta.url);

let dir = "";
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function filesUnder(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

describe("compile cache", () => {
  it("is used by worker threads started after it is enabled", async () => {
    dir = await mkdtemp(join(tmpdir(), "garret-compile-cache-test-"));
    // A copy away from the repository, so the installation's cache (beside it) is not the one used.
    const lib = join(dir, "lib", "cli");
    await mkdir(lib, { recursive: true });
    await copyFile(COMPILE_CACHE_JS, join(lib, "compile-cache.js"));
    const workerTs = join(dir, "worker-only.ts");
    const marker = randomUUID();
    await writeFile(workerTs, `const marker: string = ${JSON.stringify(marker)};\nvoid marker;\n`);
    const main = join(dir, "main.mjs");
    await writeFile(
      main,
      [
        'import { once } from "node:events";',
        'import { getCompileCacheDir } from "node:module";',
        'import { Worker } from "node:worker_threads";',
        `import { enablePrivateCompileCache } from ${JSON.stringify(join(lib, "compile-cache.js"))};`,
        "enablePrivateCompileCache();",
        `const worker = new Worker(new URL(${JSON.stringify(`file://${workerTs}`)}));`,
        'await once(worker, "exit");',
        "process.stdout.write(getCompileCacheDir() ?? '');",
      ].join("\n"),
    );
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: join(dir, "home") };
    const { stdout } = await run(process.execPath, [main], { env });
    expect(stdout).toContain(join(dir, "home", ".cache", "garret", "node-compile-cache"));
    const contents = await Promise.all((await filesUnder(stdout)).map((f) => readFile(f, "latin1")));
    expect(contents.some((c) => c.includes(`file://${workerTs}`))).toBe(true);
  });
});
