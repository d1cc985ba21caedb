/**
 * Preload for tests that check what a garretd process loads (`node --require` this file, so that it
 * runs in every worker thread too: Node runs `--require` preloads there, not `--import` ones):
 * records every module Node's loader hands over (ESM and CommonJS, through `registerHooks`) and
 * Node's own `process.moduleLoadList` (built-in modules, internal ones such as the type stripper).
 * The main thread writes them at exit to the file named by GARRET_TEST_MODULE_LOG, one per line;
 * each worker thread appends them as it goes to that name plus `.thread-<threadId>`, because a
 * worker that is terminated (piscina's idle timeout, garretd's shutdown) never reaches its exit
 * handlers. A test-only file: a production process has no such hook, and no endpoint reports this.
 */
import { appendFileSync, writeFileSync } from "node:fs";
import { registerHooks } from "node:module";
import { isMainThread, threadId } from "node:worker_threads";

const out = process.env.GARRET_TEST_MODULE_LOG;
if (out && isMainThread) {
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
} else if (out) {
  const file = `${out}.thread-${threadId}`;
  let listed = 0;
  // Node's internal modules loaded since the last call: the type stripper loads while a module is
  // translated, after its load hook, so it shows in the next call.
  const flush = (urls) => {
    const internal = process.moduleLoadList.slice(listed);
    listed += internal.length;
    appendFileSync(file, [...urls, ...internal].map((m) => `${m}\n`).join(""));
  };
  registerHooks({
    load(url, context, nextLoad) {
      flush([url]);
      const result = nextLoad(url, context);
      flush([]);
      return result;
    },
  });
  process.on("exit", () => flush([]));
}
