/**
 * Turns atticd's `[jwt.signing]` key material into WebCrypto keys for jose.
 *
 * atticd accepts exactly one of: raw HS256 secret bytes (any length, not necessarily UTF-8), an
 * RS256 private key PEM (PKCS#8 `BEGIN PRIVATE KEY` or PKCS#1 `BEGIN RSA PRIVATE KEY`; signs and
 * verifies), or an RS256 public key PEM (SPKI `BEGIN PUBLIC KEY` or PKCS#1 `BEGIN RSA PUBLIC KEY`;
 * verify-only). The config loader base64-decodes the `token-*-base64` values before they get here.
 */

import {
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  generateKeyPairSync,
  type KeyObject,
  webcrypto,
} from "node:crypto";
import { TokenError } from "./token-error.ts";

export interface TokenKeyConfig {
  hs256Secret?: Uint8Array;
  rs256PrivateKeyPem?: string;
  rs256PublicKeyPem?: string;
}

export type TokenAlgorithm = "HS256" | "RS256";

export interface TokenKeys {
  alg: TokenAlgorithm;
  verifyKey: webcrypto.CryptoKey;
  /** Null for a public-key-only configuration. */
  signKey: webcrypto.CryptoKey | null;
}

const RSASSA = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as const;
const HMAC = { name: "HMAC", hash: "SHA-256" } as const;
// jose refuses smaller RSA keys for RS256, so fail at startup rather than on every request.
const MIN_RSA_BITS = 2048;

export async function loadTokenKeys(config: TokenKeyConfig): Promise<TokenKeys> {
  const given = [config.hs256Secret, config.rs256PrivateKeyPem, config.rs256PublicKeyPem].filter(
    (k) => k !== undefined,
  );
  if (given.length !== 1) {
    throw new TokenError(
      "Exactly one of the HS256 secret, RS256 private key or RS256 public key must be set",
    );
  }

  if (config.hs256Secret !== undefined) {
    if (config.hs256Secret.length === 0) throw new TokenError("The HS256 secret is empty");
    const key = await webcrypto.subtle.importKey("raw", config.hs256Secret, HMAC, false, ["sign", "verify"]);
    return { alg: "HS256", verifyKey: key, signKey: key };
  }

  if (config.rs256PrivateKeyPem !== undefined) {
    const pem = config.rs256PrivateKeyPem;
    if (!/-----BEGIN (RSA )?PRIVATE KEY-----/.test(pem)) {
      throw new TokenError("The RS256 private key must be a PKCS#8 or PKCS#1 PEM");
    }
    const privateKey = checkRsa(parseKey(() => createPrivateKey({ key: pem, format: "pem" }), "private"));
    const pkcs8 = privateKey.export({ type: "pkcs8", format: "der" });
    const spki = createPublicKey(privateKey).export({ type: "spki", format: "der" });
    return {
      alg: "RS256",
      signKey: await webcrypto.subtle.importKey("pkcs8", pkcs8, RSASSA, false, ["sign"]),
      verifyKey: await webcrypto.subtle.importKey("spki", spki, RSASSA, false, ["verify"]),
    };
  }

  const pem = config.rs256PublicKeyPem ?? "";
  if (!/-----BEGIN (RSA )?PUBLIC KEY-----/.test(pem)) {
    throw new TokenError("The RS256 public key must be an SPKI or PKCS#1 PEM");
  }
  const publicKey = checkRsa(parseKey(() => createPublicKey({ key: pem, format: "pem" }), "public"));
  const spki = publicKey.export({ type: "spki", format: "der" });
  return {
    alg: "RS256",
    signKey: null,
    verifyKey: await webcrypto.subtle.importKey("spki", spki, RSASSA, false, ["verify"]),
  };
}

function parseKey(parse: () => KeyObject, kind: string): KeyObject {
  try {
    return parse();
  } catch (cause) {
    throw new TokenError(`Cannot parse the RS256 ${kind} key`, { cause });
  }
}

function checkRsa(key: KeyObject): KeyObject {
  if (key.asymmetricKeyType !== "rsa") throw new TokenError("The RS256 key is not an RSA key");
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS)
    throw new TokenError(`The RS256 key has ${bits} bits; at least ${MIN_RSA_BITS} are required`);
  return key;
}

/**
 * A new RSA private key as PKCS#1 PEM (`BEGIN RSA PRIVATE KEY`, LF line endings), the form atticd
 * writes on its first start. Synchronous and slow for 4096 bits (around a second): call it once
 * at setup, never while serving.
 */
export function generateRs256PrivateKeyPem(bits = 4096): string {
  return generateKeyPairSync("rsa", rs256KeyOptions(bits)).privateKey;
}

/** `generateRs256PrivateKeyPem` on libuv's thread pool, leaving the event loop (and a core) free. */
export function generateRs256PrivateKeyPemAsync(bits = 4096): Promise<string> {
  return new Promise((resolve, reject) => {
    generateKeyPair("rsa", rs256KeyOptions(bits), (err, _publicKey, privateKey) =>
      err ? reject(err) : resolve(privateKey),
    );
  });
}

function rs256KeyOptions(bits: number) {
  return {
    modulusLength: bits,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs1", format: "pem" },
  } as const;
}
