/**
 * Worker thread of batch-reader.ts: reads a list of files whole, in order, into one buffer and hands
 * it back (transferred, not copied). Blocking calls are the point: on the worker they cost the main
 * thread nothing, where asynchronous reads cost it three thread-pool round trips per file.
 * Plain JavaScript so that it loads without a TypeScript loader in any host (garretd, tests, bench).
 *
 * Message in:  { id, paths: string[] }
 * Message out: { id, buffer: ArrayBuffer, sizes: number[] } or { id, error: { index, code, message } }
 */
import { parentPort } from "node:worker_threads";
import { readFilesSync } from "./read-files.mjs";

parentPort.on("message", ({ id, paths }) => {
  try {
    // Its own ArrayBuffer (never a pooled slab), so it can be transferred.
    const { buffer, sizes } = readFilesSync(paths, (total) => Buffer.allocUnsafeSlow(total));
    parentPort.postMessage({ id, buffer: buffer.buffer, sizes }, [buffer.buffer]);
  } catch (err) {
    parentPort.postMessage({
      id,
      error: { index: err.index ?? 0, code: err.code, message: String(err.message) },
    });
  }
});
