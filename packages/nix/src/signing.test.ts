import { describe, expect, it } from "vitest";
import { NixFormatError } from "./errors.ts";
import {
  generateSecretKey,
  parsePublicKey,
  parseSecretKey,
  publicKeyFromSecret,
  verifySignature,
} from "./signing.ts";

// attic's test keypair (attic/src/signing/tests.rs).
const ATTIC_SECRET =
  "attic-test:x326WFy/JUl+MQnN1u9NPdWQPBbcVn2mwoIqSLS3DmQqZ8qT8rBSxxEnyhtl3jDouBqodlyfq6F+HsVhbTYPMA==";
const ATTIC_PUBLIC = "attic-test:KmfKk/KwUscRJ8obZd4w6LgaqHZcn6uhfh7FYW02DzA=";
const CACHE_NIXOS_ORG_KEY = "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=";

function keyError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof NixFormatError && err.kind === "InvalidKey") return err.message;
    throw err;
  }
  throw new Error("expected an InvalidKey error");
}

describe("secret keys", () => {
  it("imports attic's test keypair and derives its public key", () => {
    const key = parseSecretKey(ATTIC_SECRET);
    expect(key.name).toBe("attic-test");
    expect(key.publicKey).toBe(ATTIC_PUBLIC);
    expect(publicKeyFromSecret(ATTIC_SECRET)).toBe(ATTIC_PUBLIC);
  });

  it("returns the cached key for a repeated string", () => {
    expect(parseSecretKey(ATTIC_SECRET)).toBe(parseSecretKey(ATTIC_SECRET));
  });

  it("generates keys in Nix's layout that re-import and sign", () => {
    const secret = generateSecretKey("my-cache");
    expect(secret).toMatch(/^my-cache:[A-Za-z0-9+/]{86}==$/);
    const bytes = Buffer.from(secret.slice("my-cache:".length), "base64");
    const key = parseSecretKey(secret);
    expect(parsePublicKey(key.publicKey).key.equals(bytes.subarray(32))).toBe(true);
    const sig = key.sign("fingerprint");
    expect(verifySignature(key.publicKey, "fingerprint", sig)).toBe(true);
    expect(generateSecretKey("my-cache")).not.toBe(secret);
  });

  it("signs like RFC 8032 test vector 1", () => {
    const seed = Buffer.from("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", "hex");
    const pub = Buffer.from("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "hex");
    const key = parseSecretKey(`rfc:${Buffer.concat([seed, pub]).toString("base64")}`);
    expect(key.publicKey).toBe(`rfc:${pub.toString("base64")}`);
    expect(Buffer.from(key.sign("").slice(4), "base64").toString("hex")).toBe(
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    );
  });

  it.each([
    ["no name", ATTIC_SECRET.slice("attic-test".length), /<name>:<base64>/],
    ["no colon", "attic-test", /<name>:<base64>/],
    ["not base64", "k:!!!!", /<name>:<base64>/],
    ["32 bytes", `k:${Buffer.alloc(32).toString("base64")}`, /64 bytes, got 32/],
    ["mismatched public half", `k:${Buffer.alloc(64, 1).toString("base64")}`, /does not match/],
  ])("rejects a secret key with %s", (_, s, message) => {
    expect(keyError(() => parseSecretKey(s))).toMatch(message);
  });

  it("rejects key names with ':' or empty names", () => {
    expect(keyError(() => generateSecretKey(""))).toMatch(/name/);
    expect(keyError(() => generateSecretKey("a:b"))).toMatch(/name/);
  });
});

describe("public keys and verification", () => {
  it("imports and re-exports cache.nixos.org's key unchanged", () => {
    const { name, key } = parsePublicKey(CACHE_NIXOS_ORG_KEY);
    expect(name).toBe("cache.nixos.org-1");
    expect(key).toHaveLength(32);
    expect(`${name}:${key.toString("base64")}`).toBe(CACHE_NIXOS_ORG_KEY);
  });

  it("rejects malformed public keys", () => {
    expect(keyError(() => parsePublicKey("cache.nixos.org-1"))).toMatch(/<name>:<base64>/);
    expect(keyError(() => parsePublicKey(`k:${Buffer.alloc(31).toString("base64")}`))).toMatch(/32 bytes/);
    expect(keyError(() => verifySignature("nope", "m", "k:AAAA"))).toMatch(/public key/);
  });

  it("signs and verifies 'hello world' deterministically", () => {
    const key = parseSecretKey(ATTIC_SECRET);
    const sig = key.sign("hello world");
    expect(sig.startsWith("attic-test:")).toBe(true);
    expect(key.sign(new TextEncoder().encode("hello world"))).toBe(sig);
    expect(verifySignature(ATTIC_PUBLIC, "hello world", sig)).toBe(true);
    expect(verifySignature(ATTIC_PUBLIC, "hello world!", sig)).toBe(false);
  });

  it("rejects a foreign signature even when the key name matches", () => {
    const foreign = parseSecretKey(generateSecretKey("attic-test"));
    expect(verifySignature(ATTIC_PUBLIC, "hello world", foreign.sign("hello world"))).toBe(false);
  });

  it("rejects signatures under another name or of the wrong shape", () => {
    const sig = parseSecretKey(ATTIC_SECRET).sign("hello world");
    const b64 = sig.slice("attic-test:".length);
    expect(verifySignature(ATTIC_PUBLIC, "hello world", `other:${b64}`)).toBe(false);
    expect(verifySignature(ATTIC_PUBLIC, "hello world", b64)).toBe(false);
    expect(verifySignature(ATTIC_PUBLIC, "hello world", `attic-test:${b64.slice(4)}`)).toBe(false);
    expect(verifySignature(ATTIC_PUBLIC, "hello world", "attic-test:not base64")).toBe(false);
  });
});
