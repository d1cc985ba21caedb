import { emptyPermission, type Permission } from "@garret/protocol";
import { describe, expect, it } from "vitest";
import { ATTIC_CLAIM, buildClaims, parseAtticClaim, serializeClaims } from "./claims.ts";
import { TokenError } from "./token-error.ts";

const perm = (...letters: Array<keyof Permission>): Permission => {
  const p = emptyPermission();
  for (const l of letters) p[l] = true;
  return p;
};

describe("buildClaims / serializeClaims", () => {
  it("writes atticadm's layout", () => {
    const json = serializeClaims({
      sub: "alice",
      validitySeconds: 7_890_048, // "3 months"
      now: 1_672_439_425,
      caches: [["alice-*", perm("cc", "w", "r")]],
    });
    expect(json).toBe(
      '{"exp":1680329473,"nbf":1672439425,"sub":"alice","https://jwt.attic.rs/v1":{"caches":{"alice-*":{"r":1,"w":1,"cc":1}}}}',
    );
  });

  it("orders keys exp, nbf, iss, sub, aud, attic claim", () => {
    const claims = buildClaims({
      sub: "bob",
      validitySeconds: 60,
      now: 1000,
      issuer: "garret",
      audiences: ["a", "b"],
      caches: [["x", perm("r")]],
    });
    expect(Object.keys(claims)).toEqual(["exp", "nbf", "iss", "sub", "aud", ATTIC_CLAIM]);
    expect(claims.aud).toEqual(["a", "b"]);
    expect(claims.exp).toBe(1060);
  });

  it("writes only set bits, in the order r w d cc cr cq cd", () => {
    const json = serializeClaims({
      sub: "s",
      validitySeconds: 1,
      now: 0,
      caches: [
        ["all", perm("cd", "cq", "cr", "cc", "d", "w", "r")],
        ["some", perm("cq", "w")],
      ],
    });
    expect(json).toContain(
      '"caches":{"all":{"r":1,"w":1,"d":1,"cc":1,"cr":1,"cq":1,"cd":1},"some":{"w":1,"cq":1}}',
    );
  });

  it("merges a repeated pattern into its first position, and keeps numeric names in place", () => {
    const json = serializeClaims({
      sub: "s",
      validitySeconds: 1,
      now: 0,
      caches: [
        ["b-*", perm("r")],
        ["42", perm("r")],
        ["b-*", perm("w")],
      ],
    });
    expect(json).toContain('"caches":{"b-*":{"r":1,"w":1},"42":{"r":1}}');
  });

  it("rejects invalid patterns, negative validity and colliding extra claims", () => {
    const base = { sub: "s", validitySeconds: 1, now: 0, caches: [] };
    expect(() =>
      serializeClaims({ ...base, caches: [["*-but-normal-restrictions-still-apply!!!", perm("r")]] }),
    ).toThrow(TokenError);
    expect(() => serializeClaims({ ...base, validitySeconds: -1 })).toThrow(TokenError);
    expect(() => serializeClaims({ ...base, extraClaims: { sub: "other" } })).toThrow(TokenError);
    expect(serializeClaims({ ...base, jti: "id-1", extraClaims: { nonce: "n" } })).toBe(
      '{"exp":1,"nbf":0,"sub":"s","jti":"id-1","https://jwt.attic.rs/v1":{"caches":{}},"nonce":"n"}',
    );
  });
});

describe("parseAtticClaim", () => {
  const withCaches = (caches: unknown) => ({ [ATTIC_CLAIM]: { caches } });

  it("reads entries in document order; absent letters are 0, unknown letters ignored", () => {
    expect(parseAtticClaim(withCaches({ "a-*": { r: 1, w: 0 }, b: { cd: 1, zz: 7 } }))).toEqual([
      ["a-*", perm("r")],
      ["b", perm("cd")],
    ]);
  });

  it("rejects anything but the integers 0 and 1", () => {
    for (const bad of [true, false, 2, -1, "1", null, 0.5]) {
      expect(parseAtticClaim(withCaches({ c: { r: bad } }))).toBeNull();
    }
  });

  it("requires the claim, its caches object and valid patterns", () => {
    expect(parseAtticClaim({})).toBeNull();
    expect(parseAtticClaim({ [ATTIC_CLAIM]: {} })).toBeNull();
    expect(parseAtticClaim({ [ATTIC_CLAIM]: { caches: [] } })).toBeNull();
    expect(parseAtticClaim(withCaches({ "not valid": { r: 1 } }))).toBeNull();
    expect(parseAtticClaim(withCaches({ c: 1 }))).toBeNull();
    expect(parseAtticClaim(withCaches({}))).toEqual([]);
  });
});
