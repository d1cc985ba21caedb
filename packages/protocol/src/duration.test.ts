/** humantime parsing as atticd uses it (attic-protocol §4.6). */
import { describe, expect, it } from "vitest";
import { DurationError, parseDuration, parseDurationSeconds } from "./duration.ts";

describe("parseDuration", () => {
  it.each([
    ["10y", 315_576_000],
    ["1y", 31_557_600],
    ["3 months", 7_890_048],
    ["12 hours", 43_200],
    ["1s", 1],
    ["1h 30m", 5_400],
    ["2M", 5_260_032],
    ["2m", 120],
    ["1day 2hours", 93_600],
  ])("%s = %d s", (text, seconds) => {
    expect(parseDurationSeconds(text)).toBe(seconds);
  });
  it("sums sub-second units", () => {
    expect(parseDuration("1500ms")).toBeCloseTo(1.5);
  });
  it.each(["", "10", "ten seconds", "5 fortnights", "-1s", "1.5h"])("rejects %j", (text) => {
    expect(() => parseDuration(text)).toThrow(DurationError);
  });
});
