import { describe, expect, it } from "vitest";
import { UsageError } from "./context.ts";
import { parseEndpoint, parseJobs, parsePriority } from "./options.ts";

describe("option validation", () => {
  it("jobs: default 5, 0 and junk rejected", () => {
    expect(parseJobs(undefined)).toBe(5);
    expect(parseJobs("8")).toBe(8);
    expect(() => parseJobs("0")).toThrow(UsageError);
    expect(() => parseJobs("-1")).toThrow(/--jobs/);
    expect(() => parseJobs("2.5")).toThrow(/--jobs/);
  });
  it("priority: any i32", () => {
    expect(parsePriority("-5")).toBe(-5);
    expect(() => parsePriority("2147483648")).toThrow(/out of range/);
    expect(() => parsePriority("high")).toThrow(/integer/);
  });
  it("endpoint: http(s) URLs only", () => {
    expect(parseEndpoint("http://localhost:8080")).toBe("http://localhost:8080");
    expect(() => parseEndpoint("localhost:8080")).toThrow(/only http and https/);
    expect(() => parseEndpoint("not a url")).toThrow(/invalid endpoint/);
  });
});
