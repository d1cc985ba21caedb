/**
 * SHA-256 hash strings as Nix writes and reads them.
 *
 * Accepted forms (the ones `Hash::parseAnyPrefixed` accepts for sha256 in Nix 2.8):
 *   sha256:baeabdb75c223d171800c17b05c5e7e8e9980723a90eb6ffcc632a305afc5a42   (base16, 64 chars)
 *   sha256:0hjszid30ak3rkzvc3m94c3risg8wz2hayy100c1fg92bjvvvsms               (nix32, 52 chars)
 *   sha256:uuq9t1wiPRcYAMF7BcXn6OmYByOpDrb/zGMqMFr8WkI=                       (base64, 44 chars)
 *   sha256-uuq9t1wiPRcYAMF7BcXn6OmYByOpDrb/zGMqMFr8WkI=                       (SRI)
 * With the `:` separator the encoding is told apart by length, as Nix does. Only sha256 is
 * supported, like attic; any other algorithm is an error rather than a silent mismatch.
 *
 * Follows Nix `src/libutil/hash.cc` (`Hash::Hash(std::string_view, …)`) and attic `hash/mod.rs`.
 */

import { fromNixBase32, toNixBase32 } from "./base32.ts";
import { NixFormatError } from "./errors.ts";

const SHA256_BYTES = 32;
const HEX_RE = /^[0-9a-fA-F]{64}$/;
const BASE64_RE = /^[A-Za-z0-9+/]{43}=$/;
const CANONICAL_HEX_RE = /^sha256:[0-9a-f]{64}$/;

function invalid(message: string): NixFormatError {
  return new NixFormatError("InvalidHash", message);
}

function decodeBase64(s: string): Buffer {
  const bytes = Buffer.from(s, "base64");
  // Buffer.from ignores stray bits in the last group; reject non-canonical encodings instead.
  if (!BASE64_RE.test(s) || bytes.toString("base64") !== s) throw invalid("invalid base64 sha256 digest");
  return bytes;
}

/** Parses any accepted sha256 form into its 32-byte digest. Throws `InvalidHash`. */
export function parseSha256(s: string): Buffer {
  const colon = s.indexOf(":");
  const dash = s.indexOf("-");
  if (colon < 0 && dash < 0) throw invalid("hash has no algorithm prefix (expected 'sha256:')");
  const sri = colon < 0 || (dash >= 0 && dash < colon);
  const sep = sri ? dash : colon;
  const algo = s.slice(0, sep);
  if (algo !== "sha256") {
    throw invalid(`unsupported hash algorithm '${algo.slice(0, 16)}' (only sha256 is supported)`);
  }
  const rest = s.slice(sep + 1);
  if (sri) return decodeBase64(rest);
  switch (rest.length) {
    case 64:
      if (!HEX_RE.test(rest)) throw invalid("invalid base16 sha256 digest");
      return Buffer.from(rest, "hex");
    case 52:
      return Buffer.from(fromNixBase32(rest));
    case 44:
      return decodeBase64(rest);
    default:
      throw invalid(
        `sha256 digest has invalid length ${rest.length} (expected 64 base16, 52 nix32 or 44 base64 chars)`,
      );
  }
}

function checkDigest(d: Uint8Array): void {
  if (d.length !== SHA256_BYTES)
    throw invalid(`sha256 digest must be ${SHA256_BYTES} bytes, got ${d.length}`);
}

/** `sha256:<64 lowercase hex>`, the form atticd stores and serves. */
export function formatSha256Hex(d: Uint8Array): string {
  checkDigest(d);
  return `sha256:${Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString("hex")}`;
}

/** `sha256:<52 nix32>`, the form Nix writes and signs. */
export function formatSha256Nix32(d: Uint8Array): string {
  checkDigest(d);
  return `sha256:${toNixBase32(d)}`;
}

/** `sha256-<base64>` (SRI). */
export function formatSha256Sri(d: Uint8Array): string {
  checkDigest(d);
  return `sha256-${Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString("base64")}`;
}

/** Any accepted form → `sha256:<hex>`; canonical input is returned as is without decoding. */
export function normalizeSha256Hex(s: string): string {
  if (CANONICAL_HEX_RE.test(s)) return s;
  return formatSha256Hex(parseSha256(s));
}

/** Any accepted form → `sha256:<nix32>`. */
export function normalizeSha256Nix32(s: string): string {
  return formatSha256Nix32(parseSha256(s));
}
