/**
 * Preload for tests that check what a garretd process loads (`node --import` this file): records
 * every module Node's loader hands over (ESM and CommonJS, through `registerHooks`) and, at exit,
 * writes them and Node's own `process.moduleLoadList` (built-in modules, internal ones such as the
 * type stripper) to the file named by GARRET_TEST_MODULE_LOG, one per line. A test-only file: a
 * production process has no such hook, and no endpoint reports this.
 */
import { writeFileSync } from "node:fs";
import { registerHooks } from "node:module";

const out = process.env.GARRET_TEST_MODULE_LOG;
if (out) {
  const loaded = [];
  registerHooks({
    load(url, context, nextLoad) {
      loaded.push(url);
      return nextLoad(url, context);
    },
  });
  process.on("exit", () => {
    writeFileSync(out, `${[...loaded, ...process.moduleLoadList].join("\n")}\n`);
  });
}
