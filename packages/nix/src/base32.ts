/**
 * Nix's own base-32 encoding ("nix32"), used in store path hashes and `sha256:` hashes.
 *
 * It is not RFC 4648: the alphabet drops e, o, t and u, and the digits are emitted from the most
 * significant 5-bit group of the little-endian bit string first, so the last byte of the input
 * determines the first character. A sha256 digest (32 bytes) is 52 characters, a store path hash
 * (20 bytes) 32 characters.
 *
 * Sample: sha256 of the NAR of `attic-test-no-deps` is
 * `baeabdb7…5a42` (hex) = `0hjszid30ak3rkzvc3m94c3risg8wz2hayy100c1fg92bjvvvsms` (nix32).
 *
 * Follows Nix `src/libutil/hash.cc` (`printHash32`, and the base-32 branch of `Hash::Hash`).
 */

import { NixFormatError } from "./errors.ts";

export const NIX32_ALPHABET = "0123456789abcdfghijklmnpqrsvwxyz";

const DIGIT_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < NIX32_ALPHABET.length; i++) DIGIT_VALUE[NIX32_ALPHABET.charCodeAt(i)] = i;

/** Number of nix32 characters needed for `byteLength` bytes. */
export function nix32Length(byteLength: number): number {
  return Math.ceil((byteLength * 8) / 5);
}

export function toNixBase32(bytes: Uint8Array): string {
  const len = nix32Length(bytes.length);
  let out = "";
  for (let n = len - 1; n >= 0; n--) {
    const b = n * 5;
    const i = b >>> 3;
    const j = b & 7;
    const lo = (bytes[i] ?? 0) >>> j;
    const hi = i + 1 < bytes.length ? (bytes[i + 1] ?? 0) << (8 - j) : 0;
    out += NIX32_ALPHABET[(lo | hi) & 0x1f];
  }
  return out;
}

/**
 * Decodes a nix32 string. The byte length is implied by the string length; lengths no byte count
 * encodes to (e.g. 2) and encodings with bits set beyond the last byte are rejected, so every byte
 * string has exactly one accepted encoding.
 */
export function fromNixBase32(s: string): Uint8Array {
  const size = Math.floor((s.length * 5) / 8);
  if (nix32Length(size) !== s.length) {
    throw new NixFormatError("InvalidHash", `invalid nix base-32 length ${s.length}`);
  }
  const out = new Uint8Array(size);
  for (let n = 0; n < s.length; n++) {
    const code = s.charCodeAt(s.length - n - 1);
    const digit = code < 128 ? (DIGIT_VALUE[code] ?? -1) : -1;
    if (digit < 0) {
      throw new NixFormatError(
        "InvalidHash",
        `invalid character in nix base-32 string at offset ${s.length - n - 1}`,
      );
    }
    const b = n * 5;
    const i = b >>> 3;
    const j = b & 7;
    out[i] = (out[i] ?? 0) | ((digit << j) & 0xff);
    const carry = digit >>> (8 - j);
    if (i + 1 < size) {
      out[i + 1] = (out[i + 1] ?? 0) | carry;
    } else if (carry !== 0) {
      throw new NixFormatError("InvalidHash", "nix base-32 string has bits beyond its length");
    }
  }
  return out;
}

/** True if every character of `s` is in the nix32 alphabet (length not checked). */
export function isNixBase32(s: string): boolean {
  for (let k = 0; k < s.length; k++) {
    const code = s.charCodeAt(k);
    if (code >= 128 || (DIGIT_VALUE[code] ?? -1) < 0) return false;
  }
  return true;
}
