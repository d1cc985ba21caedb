/**
 * Worker thread of batch-reader.ts: reads a list of files whole, in order, into one buffer. Blocking
 * calls are the point: on the worker they cost the main thread nothing, where asynchronous reads
 * cost it three thread-pool round trips per file. The bytes go into the shared slot the request
 * names (read-pool.ts) when they fit, else into a new buffer that is transferred, not copied.
 * Plain JavaScript so that it loads without a TypeScript loader in any host (garretd, tests, bench).
 *
 * Message in:  { id, paths: string[], memory?: SharedArrayBuffer (the slot to fill) }
 * Message out: { id, length, inSlot: true } or { id, buffer: ArrayBuffer }
 *              or { id, error: { index, code, message } }
 */
import { parentPort } from "node:worker_threads";
import { readFilesSync } from "./read-files.mjs";

parentPort.on("message", ({ id, paths, memory }) => {
  // Sent with every request rather than kept here, so a slot the pool drops is freed everywhere.
  const target = memory === undefined ? undefined : Buffer.from(memory);
  let inSlot = false;
  try {
    const { buffer } = readFilesSync(paths, (total) => {
      inSlot = target !== undefined && total <= target.length;
      // Otherwise its own ArrayBuffer (never a pooled slab), so it can be transferred.
      return inSlot ? target.subarray(0, total) : Buffer.allocUnsafeSlow(total);
    });
    if (inSlot) parentPort.postMessage({ id, length: buffer.length, inSlot: true });
    else parentPort.postMessage({ id, buffer: buffer.buffer }, [buffer.buffer]);
  } catch (err) {
    parentPort.postMessage({
      id,
      error: { index: err.index ?? 0, code: err.code, message: String(err.message) },
    });
  }
});
