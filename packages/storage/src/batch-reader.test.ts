/**
 * The batch reader's worker threads: one on a machine of two cores or fewer (each worker is an
 * isolate of ~10 MiB), two above; however many reads are asked for at once, no more threads than
 * that are started, and every read still gets its files' bytes in order.
 */
import { readdirSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createBatchReader, readWorkerCount } from "./batch-reader.ts";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "garret-batch-reader-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const threads = () => readdirSync("/proc/self/task").length;

it("uses one read worker on two cores or fewer, two above", () => {
  expect([1, 2, 3, 4, 64].map(readWorkerCount)).toEqual([1, 1, 2, 2, 2]);
});

it("starts no more threads than this machine's worker count, however many reads are waiting", async () => {
  const paths: string[] = [];
  for (let i = 0; i < 4; i++) {
    const path = join(dir, `file-${i}`);
    await writeFile(path, Buffer.alloc(300_000, i + 1));
    paths.push(path);
  }
  const reader = createBatchReader();
  const before = threads();
  try {
    const reads = await Promise.all(Array.from({ length: 16 }, () => reader.read(paths, 1_200_000)));
    expect(threads() - before).toBe(readWorkerCount());
    for (const data of reads) {
      expect(data.length).toBe(1_200_000);
      expect([data[0], data[300_000], data[600_000], data[1_199_999]]).toEqual([1, 2, 3, 4]);
      reader.recycle(data);
    }
  } finally {
    await reader.close();
  }
});
