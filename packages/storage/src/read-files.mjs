/**
 * Reads local files whole, in order, into one buffer with blocking calls: the body of a batch read,
 * shared by the read worker (batch-read-worker.mjs) and LocalStorage's small reads on the calling
 * thread. Plain JavaScript so that the worker loads it without a TypeScript loader.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";

/**
 * `allocate(total)` makes the result buffer (the worker needs its own ArrayBuffer to transfer it).
 * A failure is thrown with `index` (which file) and `code` (errno, or `ESHORT` when a file shrank
 * while being read).
 */
export function readFilesSync(paths, allocate) {
  const fds = [];
  let index = 0;
  try {
    const sizes = [];
    let total = 0;
    for (; index < paths.length; index++) {
      const fd = openSync(paths[index], "r");
      fds.push(fd);
      const size = fstatSync(fd).size;
      sizes.push(size);
      total += size;
    }
    const buffer = allocate(total);
    let offset = 0;
    for (index = 0; index < fds.length; index++) {
      const end = offset + sizes[index];
      while (offset < end) {
        const n = readSync(fds[index], buffer, offset, end - offset, null);
        if (n === 0) throw Object.assign(new Error("file shrank while being read"), { code: "ESHORT" });
        offset += n;
      }
    }
    return { buffer, sizes };
  } catch (err) {
    throw Object.assign(err instanceof Error ? err : new Error(String(err)), {
      index,
      code: err?.code ?? "EIO",
    });
  } finally {
    for (const fd of fds) closeSync(fd);
  }
}
