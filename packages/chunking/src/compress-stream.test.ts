/** Tests for whole-stream compression (a NAR stored as one chunk). */
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { brotliDecompressSync, zstdDecompressSync as zstdDecompress } from "node:zlib";
import { describe, expect, it } from "vitest";
import { hasProgram, runProgram, runTransform, sampleData } from "../../../test/support/codecs.ts";
import { createCompressStream } from "./compress-stream.ts";

const input = sampleData(3 * 1024 * 1024 + 17);

describe("createCompressStream", () => {
  it("passes data through for none", async () => {
    expect(Buffer.compare(await runTransform(createCompressStream("none"), input), input)).toBe(0);
  });

  it("writes one zstd frame that zstd decodes", async () => {
    const out = await runTransform(createCompressStream("zstd", 8), input, 100_000);
    expect(out.length).toBeLessThan(input.length / 2);
    expect(Buffer.compare(zstdDecompress(out), input)).toBe(0);
    if (hasProgram("zstd")) expect(Buffer.compare(runProgram("zstd", ["-dc"], out), input)).toBe(0);
  });

  it("writes a brotli stream", async () => {
    const out = await runTransform(createCompressStream("brotli"), input);
    expect(Buffer.compare(brotliDecompressSync(out), input)).toBe(0);
  });

  it("writes an xz stream", async () => {
    const out = await runTransform(createCompressStream("xz", 1), input);
    expect(Buffer.compare(runProgram("xz", ["-dc"], out), input)).toBe(0);
  });

  it("compresses empty input to a valid empty stream", async () => {
    const out = await runTransform(createCompressStream("zstd"), new Uint8Array(0));
    expect(zstdDecompress(out).length).toBe(0);
  });

  it("compresses zstd off the event loop on a large write", async () => {
    const big = sampleData(24 * 1024 * 1024, 2);
    // Timer ticks during the job prove the loop keeps turning; wall-clock gaps would also count
    // the scheduler's pauses on a busy machine.
    let ticks = 0;
    const timer = setInterval(() => {
      ticks++;
    }, 1);
    const out: Buffer[] = [];
    const started = performance.now();
    await pipeline(
      Readable.from([big], { objectMode: false }),
      createCompressStream("zstd", 8),
      new Writable({
        write(data: Buffer, _encoding, callback) {
          out.push(data);
          callback();
        },
      }),
    );
    const elapsed = performance.now() - started;
    clearInterval(timer);
    expect(Buffer.compare(zstdDecompress(Buffer.concat(out)), big)).toBe(0);
    // One synchronous call over the whole buffer would let no timer run until it returned.
    expect(elapsed).toBeGreaterThan(100);
    expect(ticks).toBeGreaterThanOrEqual(10);
  });
});
