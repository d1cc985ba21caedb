/** Cache name and pattern rules, with atticd's own example lists (attic-protocol §4.5). */
import { describe, expect, it } from "vitest";
import { cachePatternMatches, isValidCacheName, isValidCachePattern } from "./cache-name.ts";

describe("cache names", () => {
  it.each([
    "valid-name",
    "Another_Valid_Name",
    "plan9",
    "username+cache",
    "a".repeat(50),
  ])("accepts %s", (n) => {
    expect(isValidCacheName(n)).toBe(true);
  });
  it.each([
    "",
    "not a valid name",
    "team-*",
    "这布盒里.webp",
    "-ers",
    "a".repeat(51),
    "_x",
    "../x",
  ])("rejects %j", (n) => {
    expect(isValidCacheName(n)).toBe(false);
  });
});

describe("cache patterns", () => {
  it("validates patterns", () => {
    expect(isValidCachePattern("team-*")).toBe(true);
    expect(isValidCachePattern("*")).toBe(true);
    expect(isValidCachePattern("*-but-normal-restrictions-still-apply!!!")).toBe(false);
  });
  it("matches whole names, case-sensitively", () => {
    expect(cachePatternMatches("team-*", "team-")).toBe(true);
    expect(cachePatternMatches("team-*", "team-abc")).toBe(true);
    expect(cachePatternMatches("team-*", "abc-team")).toBe(false);
    expect(cachePatternMatches("no-wildcard", "no-wildcard")).toBe(true);
    expect(cachePatternMatches("no-wildcard", "no-wildcard2")).toBe(false);
    expect(cachePatternMatches("*", "anything")).toBe(true);
    expect(cachePatternMatches("Team-*", "team-x")).toBe(false);
    expect(cachePatternMatches("a+*", "a+b")).toBe(true);
    expect(cachePatternMatches("a+*", "aab")).toBe(false);
  });
});
