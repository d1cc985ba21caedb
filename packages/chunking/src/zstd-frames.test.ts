/** Tests for recognising files that are exactly complete zstd frames, from node and the zstd program. */
import { constants, zstdCompressSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { runProgram, sampleData } from "../../../test/support/codecs.ts";
import { isZstdFramesOnly } from "./zstd-frames.ts";

const data = sampleData(600 * 1024 + 7, 3);
const repetitive = new Uint8Array(300 * 1024).fill(97);

describe("isZstdFramesOnly", () => {
  it("accepts frames as node and the zstd program write them", () => {
    expect(isZstdFramesOnly(zstdCompressSync(data))).toBe(true);
    expect(isZstdFramesOnly(zstdCompressSync(repetitive))).toBe(true);
    expect(isZstdFramesOnly(zstdCompressSync(data, { params: { [constants.ZSTD_c_checksumFlag]: 1 } }))).toBe(
      true,
    );
    expect(isZstdFramesOnly(runProgram("zstd", ["-c", "-3"], data))).toBe(true);
    expect(isZstdFramesOnly(runProgram("zstd", ["-c", "-19", "--no-check"], repetitive))).toBe(true);
    // Streamed input: no content size in the header, several blocks.
    expect(isZstdFramesOnly(runProgram("sh", ["-c", "cat | zstd -c -1"], data))).toBe(true);
  });

  it("accepts concatenated frames", () => {
    const two = Buffer.concat([zstdCompressSync(data), runProgram("zstd", ["-c"], repetitive)]);
    expect(isZstdFramesOnly(two)).toBe(true);
  });

  it("refuses trailing bytes, truncation, skippable frames and other formats", () => {
    const frame = zstdCompressSync(data);
    expect(isZstdFramesOnly(Buffer.concat([frame, Buffer.from([0])]))).toBe(false);
    expect(isZstdFramesOnly(Buffer.concat([frame, Buffer.from("garbage")]))).toBe(false);
    expect(isZstdFramesOnly(frame.subarray(0, frame.length - 1))).toBe(false);
    expect(isZstdFramesOnly(frame.subarray(0, 4))).toBe(false);
    const skippable = Buffer.from([0x50, 0x2a, 0x4d, 0x18, 2, 0, 0, 0, 1, 2]);
    expect(isZstdFramesOnly(Buffer.concat([skippable, frame]))).toBe(false);
    expect(isZstdFramesOnly(Buffer.concat([frame, skippable]))).toBe(false);
    expect(isZstdFramesOnly(new Uint8Array(0))).toBe(false);
    expect(isZstdFramesOnly(runProgram("xz", ["-c"], data))).toBe(false);
    expect(isZstdFramesOnly(data)).toBe(false);
  });
});
