import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { fromNixBase32, isNixBase32, nix32Length, toNixBase32 } from "./base32.ts";
import { NixFormatError } from "./errors.ts";

const hex = (s: string) => Buffer.from(s, "hex");

describe("nix base-32", () => {
  it("encodes real digests as Nix prints them", () => {
    // attic fixtures: NAR of attic-test-no-deps and attic/src/hash/tests/blob
    expect(toNixBase32(hex("baeabdb75c223d171800c17b05c5e7e8e9980723a90eb6ffcc632a305afc5a42"))).toBe(
      "0hjszid30ak3rkzvc3m94c3risg8wz2hayy100c1fg92bjvvvsms",
    );
    expect(toNixBase32(hex("df3404eaf1481506db9ca155e0a871d5b4d22e62a96961e8bf4ad1a8ca525330"))).toBe(
      "0c2kab5ailaapzl62sd9c8pd5d6mf6lf0md1kkdhc5a8y7m08d6z",
    );
    // hello-2.10 NarHash from cache.nixos.org
    expect(toNixBase32(hex("91e129ac1959d062ad093d2b1f8b65afae0f712056fe3eac78ec530ff6a1bb9a"))).toBe(
      "16mvl7v0ylzcg2n3xzjn41qhzbmgcn5iyarx16nn5l2r36n2kqci",
    );
  });

  it("decodes back to the same bytes", () => {
    expect(
      Buffer.from(fromNixBase32("0hjszid30ak3rkzvc3m94c3risg8wz2hayy100c1fg92bjvvvsms")).toString("hex"),
    ).toBe("baeabdb75c223d171800c17b05c5e7e8e9980723a90eb6ffcc632a305afc5a42");
  });

  it("has Nix's lengths: 32 bytes ↔ 52 chars, 20 bytes ↔ 32 chars", () => {
    expect(nix32Length(32)).toBe(52);
    expect(nix32Length(20)).toBe(32);
    expect(toNixBase32(new Uint8Array(20))).toBe("0".repeat(32));
    expect(fromNixBase32("0".repeat(52))).toHaveLength(32);
    expect(toNixBase32(new Uint8Array(0))).toBe("");
  });

  it("round-trips every length up to 64 bytes", () => {
    for (let n = 0; n <= 64; n++) {
      const bytes = createHash("sha512").update(`seed ${n}`).digest().subarray(0, n);
      const s = toNixBase32(bytes);
      expect(s).toHaveLength(nix32Length(n));
      expect(isNixBase32(s)).toBe(true);
      expect(Buffer.from(fromNixBase32(s)).equals(bytes)).toBe(true);
    }
  });

  it("rejects characters outside the alphabet", () => {
    for (const bad of ["e", "o", "t", "u", "A", "é", "-"]) {
      const s = bad + "0".repeat(51);
      expect(() => fromNixBase32(s)).toThrow(NixFormatError);
      expect(isNixBase32(s)).toBe(false);
    }
    expect(() => fromNixBase32("e".repeat(52))).toThrow(/invalid character/);
  });

  it("rejects lengths no byte string encodes to", () => {
    expect(() => fromNixBase32("0".repeat(51))).toThrow(/length/);
    expect(() => fromNixBase32("000")).toThrow(/length/);
    expect(fromNixBase32("00")).toHaveLength(1);
  });

  it("rejects set bits beyond the last byte", () => {
    // The first character carries the top 5-bit group; for 32 bytes only its low bit is data.
    expect(() => fromNixBase32(`2${"0".repeat(51)}`)).toThrow(/bits beyond/);
    expect(fromNixBase32(`1${"0".repeat(51)}`)[31]).toBe(0x80);
  });
});
