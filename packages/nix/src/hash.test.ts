import { describe, expect, it } from "vitest";
import { NixFormatError } from "./errors.ts";
import {
  formatSha256Hex,
  formatSha256Nix32,
  formatSha256Sri,
  normalizeSha256Hex,
  normalizeSha256Nix32,
  parseSha256,
} from "./hash.ts";

const HEX = "sha256:baeabdb75c223d171800c17b05c5e7e8e9980723a90eb6ffcc632a305afc5a42";
const NIX32 = "sha256:0hjszid30ak3rkzvc3m94c3risg8wz2hayy100c1fg92bjvvvsms";
const SRI = "sha256-uuq9t1wiPRcYAMF7BcXn6OmYByOpDrb/zGMqMFr8WkI=";

describe("parseSha256", () => {
  it("reads hex, nix32, base64 and SRI forms of the same digest as equal", () => {
    const digest = parseSha256(HEX);
    expect(digest).toHaveLength(32);
    expect(parseSha256(NIX32).equals(digest)).toBe(true);
    expect(parseSha256(SRI).equals(digest)).toBe(true);
    expect(parseSha256("sha256:uuq9t1wiPRcYAMF7BcXn6OmYByOpDrb/zGMqMFr8WkI=").equals(digest)).toBe(true);
    expect(parseSha256(HEX.toUpperCase().replace("SHA256", "sha256")).equals(digest)).toBe(true);
  });

  it.each([
    ["sha256", /no algorithm prefix/],
    ["sha256:", /invalid length 0/],
    [`sha256:${"e".repeat(52)}`, /invalid character/],
    [`sha256:${"g".repeat(64)}`, /invalid base16/],
    ["md5:d41d8cd98f00b204e9800998ecf8427e", /unsupported hash algorithm 'md5'/],
    [
      "sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==",
      /unsupported/,
    ],
    ["baeabdb75c223d171800c17b05c5e7e8e9980723a90eb6ffcc632a305afc5a42", /no algorithm prefix/],
    ["sha256-uuq9t1wiPRcYAMF7BcXn6OmYByOpDrb/zGMqMFr8WkJ=", /invalid base64/],
    ["sha256-uuq9t1wiPRcYAMF7BcXn6OmYByOpDrb/zGMqMFr8Wk==", /invalid base64/],
    [`${HEX} `, /invalid length/],
  ])("rejects %j", (input, message) => {
    let error: unknown;
    try {
      parseSha256(input);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(NixFormatError);
    expect((error as NixFormatError).kind).toBe("InvalidHash");
    expect((error as NixFormatError).message).toMatch(message);
  });
});

describe("formatting", () => {
  const digest = parseSha256(HEX);

  it("formats each encoding", () => {
    expect(formatSha256Hex(digest)).toBe(HEX);
    expect(formatSha256Nix32(digest)).toBe(NIX32);
    expect(formatSha256Sri(digest)).toBe(SRI);
  });

  it("formats a digest that is a view into a larger buffer", () => {
    const big = Buffer.concat([Buffer.alloc(5, 0xff), digest, Buffer.alloc(3, 0xff)]);
    expect(formatSha256Hex(big.subarray(5, 37))).toBe(HEX);
  });

  it("refuses digests of the wrong size", () => {
    expect(() => formatSha256Hex(new Uint8Array(20))).toThrow(/32 bytes/);
  });

  it("normalizes any form", () => {
    expect(normalizeSha256Hex(NIX32)).toBe(HEX);
    expect(normalizeSha256Hex(SRI)).toBe(HEX);
    expect(normalizeSha256Hex(HEX)).toBe(HEX);
    expect(normalizeSha256Nix32(HEX)).toBe(NIX32);
    expect(() => normalizeSha256Hex("sha256:")).toThrow(NixFormatError);
  });
});
