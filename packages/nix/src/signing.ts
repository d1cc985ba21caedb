/**
 * Ed25519 signing keys in Nix's text format, and narinfo signatures.
 *
 * Sample (atticd's test keypair):
 *   secret  attic-test:x326WFy/JUl+MQnN1u9NPdWQPBbcVn2mwoIqSLS3DmQqZ8qT8rBSxxEnyhtl3jDouBqodlyfq6F+HsVhbTYPMA==
 *   public  attic-test:KmfKk/KwUscRJ8obZd4w6LgaqHZcn6uhfh7FYW02DzA=
 * A secret key is `<name>:base64(seed ‖ public key)` (libsodium's 64-byte layout), a public key
 * `<name>:base64(32 bytes)`, a signature `<name>:base64(64 bytes)`; the name is non-empty and has no
 * `:`. Signatures are pure (RFC 8032) Ed25519 over the UTF-8 message, so they are deterministic.
 *
 * Follows Nix `src/libstore/crypto.cc` (`SecretKey`, `PublicKey`, `verifyDetached`) and attic
 * `attic/src/signing/mod.rs`. node:crypto is used instead of a JS Ed25519 because signing runs on every
 * narinfo GET and OpenSSL is far faster.
 */

import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from "node:crypto";
import { NixFormatError } from "./errors.ts";
import { hasControlChars } from "./line-text.ts";

const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const SPKI_ED25519_PREFIX = Buffer.from("302a300506032b6570032100", "hex");
const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;
const KEY_CACHE_LIMIT = 1024;

export interface SecretKey {
  readonly name: string;
  /** `<name>:base64(32-byte public key)` */
  readonly publicKey: string;
  /** Returns `<name>:base64(64-byte signature)`. */
  sign(message: string | Uint8Array): string;
}

export interface PublicKey {
  name: string;
  key: Buffer;
}

function invalidKey(message: string): NixFormatError {
  return new NixFormatError("InvalidKey", message);
}

/** Splits `<name>:<base64>`; returns undefined rather than throwing so callers pick the error. */
function splitNamed(s: string): { name: string; bytes: Buffer } | undefined {
  const colon = s.indexOf(":");
  if (colon <= 0) return undefined;
  const b64 = s.slice(colon + 1);
  if (b64.length % 4 !== 0 || !BASE64_RE.test(b64)) return undefined;
  const bytes = Buffer.from(b64, "base64");
  if (bytes.toString("base64") !== b64) return undefined;
  return { name: s.slice(0, colon), bytes };
}

function checkName(name: string): void {
  if (name === "" || name.includes(":")) throw invalidKey("key name must be non-empty and contain no ':'");
  // Names go into `Sig:` lines and whitespace-separated `trusted-public-keys`.
  if (hasControlChars(name) || /\s/.test(name))
    throw invalidKey("key name must not contain whitespace or control characters");
}

function privateKeyFromSeed(seed: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: "der", type: "pkcs8" });
}

function publicKeyFromRaw(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: "der", type: "spki" });
}

function rawPublicKey(key: KeyObject): Buffer {
  return createPublicKey(key).export({ format: "der", type: "spki" }).subarray(SPKI_ED25519_PREFIX.length);
}

function toBuffer(message: string | Uint8Array): Buffer {
  return typeof message === "string"
    ? Buffer.from(message, "utf8")
    : Buffer.from(message.buffer, message.byteOffset, message.byteLength);
}

/** Bounded memo: keys are few (one per cache) but the strings come from the DB on every request. */
function remember<V>(cache: Map<string, V>, key: string, value: V): V {
  if (cache.size >= KEY_CACHE_LIMIT) {
    const oldest = cache.keys().next();
    if (!oldest.done) cache.delete(oldest.value);
  }
  cache.set(key, value);
  return value;
}

/** A fresh `<name>:base64(seed ‖ public)` secret key, as `nix key generate-secret` makes. */
export function generateSecretKey(name: string): string {
  checkName(name);
  const { privateKey } = generateKeyPairSync("ed25519");
  const seed = privateKey.export({ format: "der", type: "pkcs8" }).subarray(PKCS8_ED25519_PREFIX.length);
  return `${name}:${Buffer.concat([seed, rawPublicKey(privateKey)]).toString("base64")}`;
}

const secretKeys = new Map<string, SecretKey>();

/**
 * Parses and checks a secret key. The public half stored in the string must match the one derived
 * from the seed: a mismatch means a corrupted or hand-edited key whose signatures nobody could verify.
 */
export function parseSecretKey(s: string): SecretKey {
  const cached = secretKeys.get(s);
  if (cached) return cached;
  const parts = splitNamed(s);
  if (!parts) throw invalidKey("secret key must be '<name>:<base64>'");
  const { name, bytes } = parts;
  checkName(name);
  if (bytes.length !== 64) throw invalidKey(`secret key must be 64 bytes, got ${bytes.length}`);
  let keyObject: KeyObject;
  try {
    keyObject = privateKeyFromSeed(bytes.subarray(0, 32));
  } catch {
    throw invalidKey("secret key seed is not a valid Ed25519 seed");
  }
  const pub = rawPublicKey(keyObject);
  if (!pub.equals(bytes.subarray(32))) throw invalidKey("secret key's public half does not match its seed");
  const publicKey = `${name}:${pub.toString("base64")}`;
  const key: SecretKey = {
    name,
    publicKey,
    sign: (message) => `${name}:${sign(null, toBuffer(message), keyObject).toString("base64")}`,
  };
  return remember(secretKeys, s, key);
}

export function publicKeyFromSecret(s: string): string {
  return parseSecretKey(s).publicKey;
}

export function parsePublicKey(s: string): PublicKey {
  const parts = splitNamed(s);
  if (!parts) throw invalidKey("public key must be '<name>:<base64>'");
  checkName(parts.name);
  if (parts.bytes.length !== 32) throw invalidKey(`public key must be 32 bytes, got ${parts.bytes.length}`);
  return { name: parts.name, key: parts.bytes };
}

const publicKeyObjects = new Map<string, { name: string; key: KeyObject }>();

function publicKeyObject(s: string): { name: string; key: KeyObject } {
  const cached = publicKeyObjects.get(s);
  if (cached) return cached;
  const { name, key } = parsePublicKey(s);
  let keyObject: KeyObject;
  try {
    keyObject = publicKeyFromRaw(key);
  } catch {
    throw invalidKey("public key is not a valid Ed25519 point");
  }
  return remember(publicKeyObjects, s, { name, key: keyObject });
}

/**
 * True if `signature` (`<name>:base64(64 bytes)`) is a valid signature of `message` by `publicKey`.
 * A malformed signature or a different key name gives false, as in Nix; a malformed public key
 * throws, since that is a configuration error rather than untrusted input.
 */
export function verifySignature(publicKey: string, message: string | Uint8Array, signature: string): boolean {
  const pk = publicKeyObject(publicKey);
  const sig = splitNamed(signature);
  if (!sig || sig.name !== pk.name || sig.bytes.length !== 64) return false;
  return verify(null, toBuffer(message), pk.key, sig.bytes);
}
