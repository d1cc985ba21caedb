import { describe, expect, it } from "vitest";
import { closureSizes, prng, targetSizes } from "./corpus.ts";

describe("prng", () => {
  it("repeats its sequence for the same seed and differs for another", () => {
    const a = prng(42);
    const b = prng(42);
    const seqA = Array.from({ length: 5 }, a);
    expect(Array.from({ length: 5 }, b)).toEqual(seqA);
    expect(Array.from({ length: 5 }, prng(43))).not.toEqual(seqA);
    for (const x of seqA) expect(x >= 0 && x < 1).toBe(true);
  });
});

describe("targetSizes", () => {
  it("sums to the total and spans a wide, skewed range", () => {
    const total = 1024 * 1024 * 1024;
    const sizes = targetSizes(total, 300, 16_384, prng(7));
    expect(sizes).toHaveLength(300);
    const sum = sizes.reduce((a, b) => a + b, 0);
    expect(Math.abs(sum - total) / total).toBeLessThan(0.001);
    const sorted = [...sizes].sort((a, b) => a - b);
    expect((sorted[299] as number) / (sorted[0] as number)).toBeGreaterThan(1000);
    // Log-uniform: the median is far below the mean.
    expect(sorted[150] as number).toBeLessThan(sum / 300 / 2);
  });
});

describe("closureSizes", () => {
  it("is shaped like a system closure: median tens of KiB, most under 64 KiB, a few tens of MiB", () => {
    const sizes = closureSizes(400, prng(17)).sort((a, b) => a - b);
    expect(sizes).toHaveLength(400);
    const median = sizes[200] as number;
    expect(median).toBeGreaterThan(16 * 1024);
    expect(median).toBeLessThan(96 * 1024);
    expect(sizes.filter((s) => s < 64 * 1024).length).toBeGreaterThan(200);
    expect(sizes[399] as number).toBeGreaterThan(8 * 1024 * 1024);
  });
});
