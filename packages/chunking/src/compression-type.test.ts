/** Tests for compression names, default levels and level resolution. */
import { describe, expect, it } from "vitest";
import {
  COMPRESSION_TYPES,
  defaultCompressionLevel,
  nixCompressionName,
  resolveCompressionLevel,
} from "./compression-type.ts";

describe("compression types", () => {
  it("maps to Nix's names", () => {
    expect(COMPRESSION_TYPES.map(nixCompressionName)).toEqual(["none", "zstd", "br", "xz"]);
  });

  it("uses attic's default levels", () => {
    expect(defaultCompressionLevel("brotli")).toBe(5);
    expect(defaultCompressionLevel("zstd")).toBe(8);
    expect(defaultCompressionLevel("xz")).toBe(2);
    expect(resolveCompressionLevel("zstd")).toBe(8);
  });

  it("clamps configured levels into the codec's range", () => {
    expect(resolveCompressionLevel("zstd", 3)).toBe(3);
    expect(resolveCompressionLevel("zstd", 99)).toBe(22);
    expect(resolveCompressionLevel("zstd", -5)).toBe(1);
    expect(resolveCompressionLevel("brotli", 12)).toBe(11);
    expect(resolveCompressionLevel("xz", 10)).toBe(9);
    expect(resolveCompressionLevel("none", 7)).toBe(0);
  });

  it("rejects non-integer levels", () => {
    expect(() => resolveCompressionLevel("zstd", 2.5)).toThrow(RangeError);
    expect(() => resolveCompressionLevel("xz", Number.NaN)).toThrow(RangeError);
  });
});
