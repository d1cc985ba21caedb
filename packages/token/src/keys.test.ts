import { createPrivateKey, createPublicKey, generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { generateRs256PrivateKeyPem, loadTokenKeys } from "./keys.ts";
import { TokenError } from "./token-error.ts";

const pkcs1 = generateRs256PrivateKeyPem(2048);
const privateKey = createPrivateKey(pkcs1);

describe("generateRs256PrivateKeyPem", () => {
  it("produces a PKCS#1 PEM RSA key of the requested size", () => {
    expect(pkcs1.startsWith("-----BEGIN RSA PRIVATE KEY-----\n")).toBe(true);
    expect(pkcs1).not.toContain("\r");
    expect(privateKey.asymmetricKeyType).toBe("rsa");
    expect(privateKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
  });
});

describe("loadTokenKeys", () => {
  it("loads an HS256 secret that is not UTF-8", async () => {
    const keys = await loadTokenKeys({ hs256Secret: Buffer.from("wyggPC0gaW52YWxpZCB1dGY4", "base64") });
    expect(keys.alg).toBe("HS256");
    expect(keys.signKey).not.toBeNull();
  });

  it("accepts PKCS#1 and PKCS#8 private keys, and SPKI and PKCS#1 public keys", async () => {
    const pkcs8 = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const publicKey = createPublicKey(privateKey);
    const spki = publicKey.export({ type: "spki", format: "pem" }).toString();
    const rsaPublic = publicKey.export({ type: "pkcs1", format: "pem" }).toString();
    expect(pkcs8).toContain("BEGIN PRIVATE KEY");
    expect(rsaPublic).toContain("BEGIN RSA PUBLIC KEY");

    for (const pem of [pkcs1, pkcs8]) {
      const keys = await loadTokenKeys({ rs256PrivateKeyPem: pem });
      expect(keys.alg).toBe("RS256");
      expect(keys.signKey).not.toBeNull();
    }
    for (const pem of [spki, rsaPublic]) {
      const keys = await loadTokenKeys({ rs256PublicKeyPem: pem });
      expect(keys.alg).toBe("RS256");
      expect(keys.signKey).toBeNull();
    }
  });

  it("requires exactly one usable key", async () => {
    await expect(loadTokenKeys({})).rejects.toThrow(TokenError);
    await expect(
      loadTokenKeys({ hs256Secret: new Uint8Array([1]), rs256PrivateKeyPem: pkcs1 }),
    ).rejects.toThrow(TokenError);
    await expect(loadTokenKeys({ hs256Secret: new Uint8Array() })).rejects.toThrow(TokenError);
    await expect(loadTokenKeys({ rs256PublicKeyPem: pkcs1 })).rejects.toThrow(TokenError);
    await expect(
      loadTokenKeys({ rs256PrivateKeyPem: "-----BEGIN RSA PRIVATE KEY-----\ngarbage\n" }),
    ).rejects.toThrow(TokenError);
  });

  it("rejects non-RSA and short RSA keys", async () => {
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" })
      .privateKey.export({ type: "pkcs8", format: "pem" })
      .toString();
    await expect(loadTokenKeys({ rs256PrivateKeyPem: ec })).rejects.toThrow(/not an RSA key/);
    await expect(loadTokenKeys({ rs256PrivateKeyPem: generateRs256PrivateKeyPem(1024) })).rejects.toThrow(
      /1024 bits/,
    );
  });
});
