import { PERMISSION_LETTERS, type Permission, type PermissionLetter } from "@garret/protocol";
import { describe, expect, it } from "vitest";
import { type CachePermissions, createAtticToken } from "./attic-token.ts";
import { findUncoveredGrant, globsMayOverlap } from "./grant-coverage.ts";

function perm(...letters: PermissionLetter[]): Permission {
  return Object.fromEntries(PERMISSION_LETTERS.map((l) => [l, letters.includes(l)])) as Permission;
}
function minter(entries: CachePermissions) {
  return createAtticToken({ sub: "m", caches: entries, claims: {} });
}
const covered = (m: CachePermissions, pattern: string, ...bits: PermissionLetter[]) =>
  findUncoveredGrant(minter(m), [[pattern, perm(...bits)]]);

describe("findUncoveredGrant", () => {
  it("covers anything under * with enough bits, and nothing beyond the bits", () => {
    const m: CachePermissions = [["*", perm("r", "w")]];
    expect(covered(m, "team-*", "r", "w")).toBeNull();
    expect(covered(m, "*", "r")).toBeNull();
    expect(covered(m, "exact", "w")).toBeNull();
    expect(covered(m, "team-*", "r", "d")).toEqual({ pattern: "team-*", missing: ["d"] });
  });

  it("decides glob containment exactly", () => {
    const m: CachePermissions = [["team-*", perm("r")]];
    expect(covered(m, "team-a", "r")).toBeNull();
    expect(covered(m, "team-*", "r")).toBeNull();
    expect(covered(m, "team-*-x", "r")).toBeNull();
    expect(covered(m, "team*", "r")).toEqual({ pattern: "team*", missing: ["r"] });
    expect(covered(m, "*-team-*", "r")).toEqual({ pattern: "*-team-*", missing: ["r"] });
    expect(covered(m, "other", "r")).toEqual({ pattern: "other", missing: ["r"] });
    expect(covered([["a*b", perm("r")]], "a*x*b", "r")).toBeNull();
    expect(covered([["a*b", perm("r")]], "a*", "r")).not.toBeNull();
    expect(covered([["*x*", perm("r")]], "ax*", "r")).toBeNull();
  });

  it("follows atticd's first-match rule: an earlier overlapping glob limits what a later one grants", () => {
    const m: CachePermissions = [
      ["*", perm("r")],
      ["team-*", perm("r", "w")],
    ];
    // For team-x the minter itself only gets `r` (the `*` entry comes first).
    expect(covered(m, "team-x", "w")).toEqual({ pattern: "team-x", missing: ["w"] });
    expect(covered(m, "team-*", "w")).toEqual({ pattern: "team-*", missing: ["w"] });
    expect(covered(m, "team-*", "r")).toBeNull();
  });

  it("accounts for exact entries inside a requested glob", () => {
    const m: CachePermissions = [
      ["team-prod", perm("r")],
      ["team-*", perm("r", "w")],
    ];
    expect(covered(m, "team-dev", "w")).toBeNull();
    expect(covered(m, "team-*", "w")).toEqual({ pattern: "team-*", missing: ["w"] });
    expect(covered(m, "team-d*", "w")).toBeNull();
  });

  it("ignores earlier globs that cannot overlap", () => {
    const m: CachePermissions = [
      ["prod-*", perm("r")],
      ["*-dev", perm("r", "w")],
      ["*", perm("r", "w")],
    ];
    // prod-* cannot hold a team-* name; *-dev can, and grants w as well.
    expect(covered(m, "team-*", "w")).toBeNull();
    expect(covered(m, "team-*", "d")).toEqual({ pattern: "team-*", missing: ["d"] });
    expect(
      covered(
        [
          ["prod-*", perm("r")],
          ["*", perm("w")],
        ],
        "team-*",
        "w",
      ),
    ).toBeNull();
    expect(
      covered(
        [
          ["prod-*", perm("r")],
          ["*", perm("w")],
        ],
        "pr*",
        "w",
      ),
    ).toEqual({ pattern: "pr*", missing: ["w"] });
  });

  it("reports the first uncovered entry of a request, and accepts empty grants", () => {
    const m = minter([["a", perm("r")]]);
    expect(findUncoveredGrant(m, [["zzz", perm()]])).toBeNull();
    expect(
      findUncoveredGrant(m, [
        ["a", perm("r")],
        ["b", perm("r")],
      ]),
    ).toEqual({ pattern: "b", missing: ["r"] });
  });
});

describe("globsMayOverlap", () => {
  it("separates globs with contradicting prefixes or suffixes only", () => {
    expect(globsMayOverlap("prod-*", "team-*")).toBe(false);
    expect(globsMayOverlap("*-a", "*-b")).toBe(false);
    expect(globsMayOverlap("p*", "prod-*")).toBe(true);
    expect(globsMayOverlap("a*", "*b")).toBe(true);
  });
});
