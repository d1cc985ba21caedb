import { emptyPermission, type Permission } from "@garret/protocol";
import { describe, expect, it } from "vitest";
import { createAtticToken } from "./attic-token.ts";

const perm = (...letters: Array<keyof Permission>): Permission => {
  const p = emptyPermission();
  for (const l of letters) p[l] = true;
  return p;
};

describe("AtticToken.getPermission", () => {
  it("uses the first matching glob in document order and never merges (attic #133)", () => {
    const token = createAtticToken({
      caches: [
        ["*", perm("r")],
        ["starlite-*", perm("w")],
      ],
      claims: {},
    });
    expect(token.getPermission("starlite-x")).toEqual(perm("r"));
  });

  it("prefers an exact key even when a glob comes first", () => {
    const token = createAtticToken({
      caches: [
        ["team-*", perm("r")],
        ["team-core", perm("w", "cd")],
      ],
      claims: {},
    });
    expect(token.getPermission("team-core")).toEqual(perm("w", "cd"));
    expect(token.getPermission("team-other")).toEqual(perm("r"));
    expect(token.getPermission("other-team")).toEqual(emptyPermission());
  });

  it("matches globs case-sensitively over the whole name", () => {
    const token = createAtticToken({ caches: [["a*z", perm("r")]], claims: {} });
    expect(token.getPermission("abcz").r).toBe(true);
    expect(token.getPermission("az").r).toBe(true);
    expect(token.getPermission("Abcz").r).toBe(false);
    expect(token.getPermission("abcza").r).toBe(false);
  });

  it("hands out a fresh object and keeps its own entries immutable", () => {
    const token = createAtticToken({ caches: [["c", perm("w")]], claims: { sub: "x" } });
    const first = token.getPermission("c");
    first.r = true;
    expect(token.getPermission("c")).toEqual(perm("w"));
    expect(Object.isFrozen(token.caches)).toBe(true);
    expect(() => {
      (token.caches[0]?.[1] as Permission).d = true;
    }).toThrow(TypeError);
  });
});
