import { describe, expect, it } from "vitest";
import { median, mibPerSecond, percentile } from "./stats.ts";

describe("median", () => {
  it("takes the middle sample, or the mean of the middle two", () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });
});

describe("percentile", () => {
  it("uses the nearest rank", () => {
    const samples = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentile(samples, 50)).toBe(50);
    expect(percentile(samples, 99)).toBe(99);
    expect(percentile(samples, 100)).toBe(100);
    expect(percentile([7], 99)).toBe(7);
  });
});

describe("mibPerSecond", () => {
  it("converts bytes per millisecond", () => {
    expect(mibPerSecond(2 * 1024 * 1024, 500)).toBe(4);
  });
});
