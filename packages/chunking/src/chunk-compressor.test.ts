/** Tests for the worker-pool chunk compressor. */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { brotliDecompressSync, zstdDecompressSync as zstdDecompress } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { hasProgram, runProgram, runTransform, sampleData } from "../../../test/support/codecs.ts";
import { type ChunkCompressor, createChunkCompressor, splitRanges } from "./chunk-compressor.ts";
import type { CompressionType } from "./compression-type.ts";
import { createDecompressStream } from "./decompress-stream.ts";
import { BACKGROUND_NICE } from "./thread-priority.ts";

function decompressOne(type: CompressionType, data: Uint8Array): Buffer {
  switch (type) {
    case "zstd":
      return zstdDecompress(data);
    case "brotli":
      return brotliDecompressSync(data);
    case "xz":
      return runProgram("xz", ["-dc"], data);
    case "none":
      return Buffer.from(data);
  }
}

const compressors: ChunkCompressor[] = [];
function compressor(type: CompressionType, level?: number): ChunkCompressor {
  const created = createChunkCompressor({ type, level, threads: 2 });
  compressors.push(created);
  return created;
}
afterAll(async () => {
  await Promise.all(compressors.map((c) => c.close()));
});

const input = sampleData(1_200_000);
const chunks = [0, 200_000, 450_000, 700_000, 1_000_000, 1_200_000]
  .slice(1)
  .map((end, i, ends) => input.subarray(i === 0 ? 0 : (ends[i - 1] as number), end));

describe.each(["zstd", "brotli", "xz"] as const)("%s chunk compressor", (type) => {
  it("round-trips chunks compressed concurrently, each as a complete stream", async () => {
    const c = compressor(type);
    expect(c.type).toBe(type);
    const compressed = await Promise.all(chunks.map((chunk) => c.compress(chunk)));
    for (const [i, data] of compressed.entries()) {
      expect(data.length).toBeLessThan((chunks[i] as Uint8Array).length / 2);
      expect(Buffer.compare(decompressOne(type, data), chunks[i] as Uint8Array)).toBe(0);
    }
  });

  it("compresses ranges of a shared segment across the workers, in order, with each file's hash", async () => {
    const source = new Uint8Array(new SharedArrayBuffer(input.length));
    source.set(input);
    const ranges: Array<[number, number]> = [
      [0, 200_000],
      [200_000, 210_000],
      [210_000, 700_000],
      [700_000, 1_200_000],
    ];
    const { files, fileHashes } = await compressor(type).compressRanges(source, ranges);
    expect(files).toHaveLength(ranges.length);
    for (const [i, [start, end]] of ranges.entries()) {
      const file = files[i] as Uint8Array;
      expect(Buffer.compare(decompressOne(type, file), input.subarray(start, end))).toBe(0);
      expect(fileHashes[i]).toBe(`sha256:${createHash("sha256").update(file).digest("hex")}`);
    }
  });

  it("writes the compressed ranges into the caller's buffer when they fit, and elsewhere when not", async () => {
    const source = new Uint8Array(new SharedArrayBuffer(input.length));
    source.set(input);
    const ranges: Array<[number, number]> = [
      [0, 300_000],
      [300_000, 700_000],
      [700_000, 1_200_000],
    ];
    const out = new Uint8Array(new SharedArrayBuffer(input.length));
    const c = compressor(type);
    const fits = await c.compressRanges(source, ranges, out);
    const tiny = new Uint8Array(new SharedArrayBuffer(16));
    const spills = await c.compressRanges(source, ranges, tiny);
    for (const [i, [start, end]] of ranges.entries()) {
      // Back on this thread, the files are views of the same memory as `out` (another wrapper).
      const inOut = fits.files[i] as Uint8Array;
      expect(inOut.buffer.byteLength).toBe(out.length);
      expect(Buffer.compare(out.subarray(inOut.byteOffset, inOut.byteOffset + inOut.length), inOut)).toBe(0);
      expect(Buffer.compare(decompressOne(type, inOut), input.subarray(start, end))).toBe(0);
      const elsewhere = spills.files[i] as Uint8Array;
      expect(elsewhere.buffer.byteLength).toBeGreaterThan(tiny.length);
      expect(Buffer.compare(elsewhere, inOut)).toBe(0);
      expect(spills.fileHashes[i]).toBe(fits.fileHashes[i]);
    }
  });

  it("handles multi-MiB inputs and leaves the input usable", async () => {
    const big = sampleData(6 * 1024 * 1024, 3);
    const before = Buffer.from(big);
    const out = await compressor(type).compress(big);
    expect(big.byteLength).toBe(before.length);
    expect(Buffer.compare(big, before)).toBe(0);
    expect(Buffer.compare(decompressOne(type, out), big)).toBe(0);
  });

  it("compresses empty input to a valid empty stream", async () => {
    const out = await compressor(type).compress(new Uint8Array(0));
    expect(out.length).toBeGreaterThan(0);
    expect(decompressOne(type, out).length).toBe(0);
  });
});

describe("concatenated chunk streams", () => {
  for (const type of ["zstd", "xz"] as const) {
    it(`decode as one ${type} stream`, async () => {
      const c = compressor(type);
      const joined = Buffer.concat(await Promise.all(chunks.map((chunk) => c.compress(chunk))));
      const viaNode = await runTransform(createDecompressStream(type), joined);
      expect(Buffer.compare(viaNode, input)).toBe(0);
      if (hasProgram(type)) expect(Buffer.compare(runProgram(type, ["-dc"], joined), input)).toBe(0);
    });
  }
});

describe("chunk compressor behaviour", () => {
  it("returns the input itself for none, without a worker", async () => {
    const c = createChunkCompressor({ type: "none" });
    const data = sampleData(1000);
    expect(await c.compress(data)).toBe(data);
    await c.close();
  });

  it("applies the level", async () => {
    const data = sampleData(400_000, 9);
    const fast = await compressor("zstd", 1).compress(data);
    const strong = await compressor("zstd", 19).compress(data);
    expect(strong.length).toBeLessThan(fast.length);
  });

  it("accepts Buffers, including views into Node's shared pool", async () => {
    const pooled = Buffer.from("a small chunk that lives in the Buffer pool ".repeat(10));
    const wide = Buffer.from(sampleData(2_000_000, 6)).subarray(500_000, 600_000);
    const c = compressor("zstd");
    const [a, b] = await Promise.all([c.compress(pooled), c.compress(wide)]);
    expect(Buffer.compare(decompressOne("zstd", a as Uint8Array), pooled)).toBe(0);
    expect(Buffer.compare(decompressOne("zstd", b as Uint8Array), wide)).toBe(0);
    expect(pooled.toString()).toContain("a small chunk");
  });

  it("accepts views into larger buffers", async () => {
    const backing = sampleData(3_000_000, 4);
    const view = backing.subarray(1_000_000, 1_100_000);
    const out = await compressor("zstd").compress(view);
    expect(Buffer.compare(decompressOne("zstd", out), view)).toBe(0);
    expect(backing.byteLength).toBe(3_000_000);
  });

  it("keeps the event loop responsive while compressing", async () => {
    const c = compressor("brotli", 9);
    await c.compress(sampleData(1000)); // start the worker before measuring
    const data = sampleData(4 * 1024 * 1024, 5);
    // Timer ticks during the job prove the loop keeps turning; wall-clock gaps would also count
    // the scheduler's pauses on a busy machine.
    let ticks = 0;
    const timer = setInterval(() => {
      ticks++;
    }, 1);
    const started = performance.now();
    await c.compress(data);
    const elapsed = performance.now() - started;
    clearInterval(timer);
    // Compressing this on the main thread would let no timer run until it finished.
    expect(elapsed).toBeGreaterThan(200);
    expect(ticks).toBeGreaterThanOrEqual(10);
  });

  it("starts no worker thread until the first chunk arrives", async () => {
    const threads = () => readdirSync("/proc/self/task").length;
    const before = threads();
    const c = createChunkCompressor({ type: "zstd", threads: 1 });
    expect(threads()).toBe(before);
    const out = await c.compress(sampleData(10_000, 6));
    expect(Buffer.compare(decompressOne("zstd", out), sampleData(10_000, 6))).toBe(0);
    expect(threads()).toBeGreaterThan(before);
    await c.close();
  });

  it("runs its workers below the event loop's scheduling priority", async () => {
    const niceOf = (tid: string) => {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
      return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
    };
    const before = new Set(readdirSync("/proc/self/task"));
    const c = createChunkCompressor({ type: "zstd", threads: 1 });
    await c.compress(sampleData(10_000, 6));
    const added = readdirSync("/proc/self/task").filter((tid) => !before.has(tid));
    expect(added.map(niceOf)).toContain(BACKGROUND_NICE);
    expect(niceOf(String(process.pid))).toBe(0);
    await c.close();
  });

  it("closes without ever having started a worker", async () => {
    await createChunkCompressor({ type: "zstd", threads: 1 }).close();
  });

  it("rejects work after close", async () => {
    const c = createChunkCompressor({ type: "zstd", threads: 1 });
    await c.close();
    await expect(c.compress(sampleData(10))).rejects.toThrow(/closed/);
  });
});

describe("splitRanges", () => {
  it("makes at most `parts` groups of consecutive ranges of about equal bytes", () => {
    const ranges: Array<[number, number]> = [
      [0, 10],
      [10, 20],
      [20, 30],
      [30, 40],
    ];
    expect(splitRanges(ranges, 2)).toEqual([ranges.slice(0, 2), ranges.slice(2)]);
    expect(splitRanges(ranges, 1)).toEqual([ranges]);
    expect(splitRanges(ranges.slice(0, 1), 4)).toEqual([ranges.slice(0, 1)]);
    expect(splitRanges(ranges, 8).flat()).toEqual(ranges);
  });
});
