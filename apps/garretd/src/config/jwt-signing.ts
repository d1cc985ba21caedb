/**
 * JWT signing keys as atticd configures them (`[jwt.signing]` or the `ATTIC_SERVER_TOKEN_*_BASE64`
 * environment variables; attic `server/src/config.rs`):
 *
 * - `token-hs256-secret-base64`: base64 of the raw HMAC key bytes (any bytes, any length > 0).
 * - `token-rs256-secret-base64`: base64 of a whole PEM file holding an RSA private key, PKCS#8
 *   (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`, what `openssl genrsa -traditional` writes).
 * - `token-rs256-pubkey-base64`: base64 of an RSA public key PEM, SPKI (`BEGIN PUBLIC KEY`) or
 *   PKCS#1 (`BEGIN RSA PUBLIC KEY`); such a server verifies tokens but cannot mint them.
 *
 * Keys are validated here, at load time, and RSA keys are re-encoded to PKCS#8 / SPKI PEM so later
 * code handles one form. Error texts never repeat the configured value.
 */

import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { Secret } from "./secret.ts";

export type JwtSigning =
  | { kind: "hs256"; secret: Secret<Uint8Array> }
  | { kind: "rs256"; privateKeyPem: Secret<string> }
  | { kind: "rs256-pubkey"; publicKeyPem: string };

export const SIGNING_KEYS = {
  "token-rs256-pubkey-base64": "rs256-pubkey",
  "token-rs256-secret-base64": "rs256",
  "token-hs256-secret-base64": "hs256",
} as const;

export type SigningKeyName = keyof typeof SIGNING_KEYS;

/** The environment fallbacks, in the order atticd tries them. */
export const SIGNING_ENV_VARS = [
  ["ATTIC_SERVER_TOKEN_RS256_PUBKEY_BASE64", "token-rs256-pubkey-base64"],
  ["ATTIC_SERVER_TOKEN_RS256_SECRET_BASE64", "token-rs256-secret-base64"],
  ["ATTIC_SERVER_TOKEN_HS256_SECRET_BASE64", "token-hs256-secret-base64"],
] as const satisfies readonly (readonly [string, SigningKeyName])[];

export type DecodeResult = { ok: true; signing: JwtSigning } | { ok: false; problem: string };

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2,3})?$/;

/**
 * Decodes standard base64. Whitespace is ignored (a `base64` without `-w0` wraps lines), padding is
 * optional; anything else is an error.
 */
export function decodeBase64Strict(text: string): Uint8Array | undefined {
  const compact = text.replace(/\s+/g, "");
  if (!BASE64.test(compact)) return undefined;
  return new Uint8Array(Buffer.from(compact, "base64"));
}

export function decodeSigningKey(name: SigningKeyName, base64: string): DecodeResult {
  const bytes = decodeBase64Strict(base64);
  if (bytes === undefined) return { ok: false, problem: "not valid base64" };
  const kind = SIGNING_KEYS[name];
  if (kind === "hs256") {
    if (bytes.length === 0) return { ok: false, problem: "the HMAC secret is empty" };
    return { ok: true, signing: { kind, secret: new Secret(bytes) } };
  }
  const pem = Buffer.from(bytes).toString("utf8");
  if (kind === "rs256") {
    if (!/-----BEGIN (RSA )?PRIVATE KEY-----/.test(pem)) {
      return {
        ok: false,
        problem: "does not decode to a PEM RSA private key (BEGIN PRIVATE KEY or BEGIN RSA PRIVATE KEY)",
      };
    }
    try {
      const key = createPrivateKey({ key: pem, format: "pem" });
      if (key.asymmetricKeyType !== "rsa")
        return { ok: false, problem: `holds a ${key.asymmetricKeyType} key, not RSA` };
      const small = tooSmall(key);
      if (small) return { ok: false, problem: small };
      const pkcs8 = key.export({ type: "pkcs8", format: "pem" }) as string;
      return { ok: true, signing: { kind, privateKeyPem: new Secret(pkcs8) } };
    } catch {
      return { ok: false, problem: "the PEM private key could not be parsed" };
    }
  }
  if (!/-----BEGIN (RSA )?PUBLIC KEY-----/.test(pem)) {
    return {
      ok: false,
      problem: "does not decode to a PEM RSA public key (BEGIN PUBLIC KEY or BEGIN RSA PUBLIC KEY)",
    };
  }
  try {
    const key = createPublicKey({ key: pem, format: "pem" });
    if (key.asymmetricKeyType !== "rsa")
      return { ok: false, problem: `holds a ${key.asymmetricKeyType} key, not RSA` };
    const small = tooSmall(key);
    if (small) return { ok: false, problem: small };
    return {
      ok: true,
      signing: { kind, publicKeyPem: key.export({ type: "spki", format: "pem" }) as string },
    };
  } catch {
    return { ok: false, problem: "the PEM public key could not be parsed" };
  }
}

// The JWT library refuses shorter RS256 keys; saying so here makes check-config catch it.
const MIN_RSA_BITS = 2048;

function tooSmall(key: KeyObject): string | undefined {
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  return bits < MIN_RSA_BITS
    ? `the RSA key has ${bits} bits; at least ${MIN_RSA_BITS} are required`
    : undefined;
}

/** The key argument of `createTokenAuthority` (@garret/token) for a configured signing key. */
export function tokenKeyConfig(
  signing: JwtSigning,
): { hs256Secret: Uint8Array } | { rs256PrivateKeyPem: string } | { rs256PublicKeyPem: string } {
  switch (signing.kind) {
    case "hs256":
      return { hs256Secret: signing.secret.expose() };
    case "rs256":
      return { rs256PrivateKeyPem: signing.privateKeyPem.expose() };
    case "rs256-pubkey":
      return { rs256PublicKeyPem: signing.publicKeyPem };
  }
}
