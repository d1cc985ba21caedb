/**
 * Worker thread of batch-reader.ts: reads a list of files whole, in order, into one buffer and hands
 * it back (transferred, not copied). Blocking calls are the point: on the worker they cost the main
 * thread nothing, where asynchronous reads cost it three thread-pool round trips per file.
 * Plain JavaScript so that it loads without a TypeScript loader in any host (garretd, tests, bench).
 *
 * Message in:  { id, paths: string[] }
 * Message out: { id, buffer: ArrayBuffer, sizes: number[] } or { id, error: { index, code, message } }
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { parentPort } from "node:worker_threads";

parentPort.on("message", ({ id, paths }) => {
  const fds = [];
  let index = 0;
  try {
    const sizes = [];
    for (; index < paths.length; index++) {
      const fd = openSync(paths[index], "r");
      fds.push(fd);
      sizes.push(fstatSync(fd).size);
    }
    const total = sizes.reduce((a, b) => a + b, 0);
    // Its own ArrayBuffer (never a pooled slab), so it can be transferred.
    const buffer = Buffer.allocUnsafeSlow(total);
    let offset = 0;
    for (index = 0; index < fds.length; index++) {
      const end = offset + sizes[index];
      while (offset < end) {
        const n = readSync(fds[index], buffer, offset, end - offset, null);
        if (n === 0) throw Object.assign(new Error("file shrank while being read"), { code: "ESHORT" });
        offset += n;
      }
    }
    parentPort.postMessage({ id, buffer: buffer.buffer, sizes }, [buffer.buffer]);
  } catch (err) {
    parentPort.postMessage({
      id,
      error: { index, code: err?.code ?? "EIO", message: String(err?.message ?? err) },
    });
  } finally {
    for (const fd of fds) closeSync(fd);
  }
});
