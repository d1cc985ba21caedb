import { createHmac, createPrivateKey, createPublicKey } from "node:crypto";
import { emptyPermission, type Permission } from "@garret/protocol";
import { importPKCS8, type JWTPayload, SignJWT } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { ATTIC_CLAIM } from "./claims.ts";
import { generateRs256PrivateKeyPem, type TokenKeyConfig } from "./keys.ts";
import { createTokenAuthority, type TokenAuthority } from "./token-authority.ts";
import type { TokenBounds } from "./verify-jwt.ts";

// attic's test secret: base64 of bytes that are deliberately not valid UTF-8.
const HS256_SECRET = Buffer.from("wyggPC0gaW52YWxpZCB1dGY4", "base64");
const NOW = 1_700_000_000;

let rsaPrivatePem: string;
let rsaPkcs8Pem: string;
let rsaPublicPem: string;
beforeAll(() => {
  rsaPrivatePem = generateRs256PrivateKeyPem(2048);
  const key = createPrivateKey(rsaPrivatePem);
  rsaPkcs8Pem = key.export({ type: "pkcs8", format: "pem" }).toString();
  rsaPublicPem = createPublicKey(key).export({ type: "spki", format: "pem" }).toString();
});

const perm = (...letters: Array<keyof Permission>): Permission => {
  const p = emptyPermission();
  for (const l of letters) p[l] = true;
  return p;
};

/** A controllable clock plus an authority reading it. */
async function authorityAt(keys: TokenKeyConfig, bounds?: TokenBounds) {
  const clock = { now: NOW };
  const authority = await createTokenAuthority(keys, bounds, { now: () => clock.now });
  return { clock, authority };
}

/** Signs claims the way another implementation (atticadm) would, independent of our minting code. */
async function sign(alg: "HS256" | "RS256", payload: JWTPayload, header: Record<string, unknown> = {}) {
  const key = alg === "HS256" ? HS256_SECRET : await importPKCS8(rsaPkcs8Pem, "RS256");
  return new SignJWT(payload).setProtectedHeader({ alg, typ: "JWT", ...header }).sign(key);
}

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

const keyConfig = (alg: "HS256" | "RS256"): TokenKeyConfig =>
  alg === "HS256" ? { hs256Secret: HS256_SECRET } : { rs256PrivateKeyPem: rsaPrivatePem };

const atticClaims = (caches: Record<string, unknown>, extra: JWTPayload = {}): JWTPayload => ({
  exp: NOW + 3600,
  nbf: NOW - 10,
  sub: "meow",
  ...extra,
  [ATTIC_CLAIM]: { caches },
});

describe.each(["HS256", "RS256"] as const)("%s verification", (alg) => {
  let authority: TokenAuthority;
  let clock: { now: number };
  beforeAll(async () => {
    ({ authority, clock } = await authorityAt(keyConfig(alg)));
  });

  it("resolves permissions like attic's token test", async () => {
    const jwt = await sign(
      alg,
      atticClaims({
        "all-*": { r: 1 },
        "all-ci-*": { w: 1 },
        "cache-ro": { r: 1 },
        "cache-rw": { r: 1, w: 1 },
        "team-*": { cc: 1, r: 1, w: 1 },
      }),
    );
    const token = await authority.verify(jwt);
    expect(token).not.toBeNull();
    expect(token?.sub).toBe("meow");
    expect(token?.exp).toBe(NOW + 3600);
    expect(token?.getPermission("all-ci-abc")).toEqual(perm("r"));
    expect(token?.getPermission("cache-rw")).toEqual(perm("r", "w"));
    expect(token?.getPermission("cache-ro")).toEqual(perm("r"));
    expect(token?.getPermission("team-xyz")).toEqual(perm("r", "w", "cc"));
    expect(token?.getPermission("forbidden-cache")).toEqual(emptyPermission());
    expect(token?.caches.map(([p]) => p)).toEqual(["all-*", "all-ci-*", "cache-ro", "cache-rw", "team-*"]);
  });

  it("accepts typ variants and tokens without typ, exp or nbf", async () => {
    const caches = { c: { r: 1 } };
    expect(await authority.verify(await sign(alg, atticClaims(caches), { typ: "jwt" }))).not.toBeNull();
    expect(await authority.verify(await sign(alg, atticClaims(caches), { typ: "at+JWT" }))).not.toBeNull();
    const bare = await new SignJWT({ [ATTIC_CLAIM]: { caches } })
      .setProtectedHeader({ alg })
      .sign(alg === "HS256" ? HS256_SECRET : await importPKCS8(rsaPkcs8Pem, "RS256"));
    const token = await authority.verify(bare);
    expect(token?.exp).toBeUndefined();
    expect(token?.sub).toBeUndefined();
    expect(token?.getPermission("c").r).toBe(true);
  });

  /** The rejection reason, so each case proves it fails for the rule it is about. */
  const rejection = async (jwt: string) => {
    const result = await authority.verifyWithReason(jwt);
    return result.ok ? "accepted" : result.reason;
  };

  it("rejects a forged signature", async () => {
    const jwt = await sign(alg, atticClaims({ c: { r: 1 } }));
    const [h, , s] = jwt.split(".");
    const forgedPayload = b64url(atticClaims({ "*": { r: 1, w: 1, cd: 1 } }));
    expect(await rejection(`${h}.${forgedPayload}.${s}`)).toBe("signature verification failed");
    const flipped = `${s?.startsWith("A") ? "B" : "A"}${s?.slice(1)}`;
    expect(await rejection(`${h}.${jwt.split(".")[1]}.${flipped}`)).toBe("signature verification failed");
  });

  it("applies zero clock tolerance", async () => {
    const caches = { c: { r: 1 } };
    expect(await rejection(await sign(alg, atticClaims(caches, { exp: clock.now - 1 })))).toBe(
      `token expired at ${new Date((clock.now - 1) * 1000).toISOString()}`,
    );
    expect(await rejection(await sign(alg, atticClaims(caches, { exp: clock.now })))).toBe("accepted");
    expect(await rejection(await sign(alg, atticClaims(caches, { nbf: clock.now + 1 })))).toBe(
      "token is not valid yet",
    );
    expect(await rejection(await sign(alg, atticClaims(caches, { nbf: clock.now })))).toBe("accepted");
    expect(await rejection(await sign(alg, atticClaims(caches, { iat: clock.now + 1 })))).toBe(
      "token was issued in the future",
    );
    expect(await rejection(await sign(alg, atticClaims(caches, { iat: clock.now })))).toBe("accepted");
  });

  it("rejects a missing attic claim or caches member", async () => {
    const reason = "missing or invalid attic claim";
    expect(await rejection(await sign(alg, { sub: "x", exp: NOW + 60 }))).toBe(reason);
    expect(await rejection(await sign(alg, { sub: "x", [ATTIC_CLAIM]: {} }))).toBe(reason);
  });

  it("rejects the whole token when a permission flag is not 0 or 1", async () => {
    for (const bad of [true, 2, "1"]) {
      const jwt = await sign(alg, atticClaims({ good: { r: 1 }, bad: { w: bad } }));
      expect(await rejection(jwt)).toBe("missing or invalid attic claim");
    }
    expect(await rejection(await sign(alg, atticClaims({ good: { r: 1, w: 0 } })))).toBe("accepted");
  });

  it("rejects invalid patterns and mistyped registered claims", async () => {
    const caches = { c: { r: 1 } };
    expect(await rejection(await sign(alg, atticClaims({ "bad pattern": { r: 1 } })))).toBe(
      "missing or invalid attic claim",
    );
    expect(await rejection(await sign(alg, atticClaims(caches, { sub: 42 as never })))).toBe(
      "sub is not a string",
    );
    expect(await rejection(await sign(alg, atticClaims(caches, { exp: "soon" as never })))).toBe(
      "exp is not a timestamp",
    );
  });

  it("rejects a foreign typ, alg none and padded segments", async () => {
    expect(await rejection(await sign(alg, atticClaims({ c: { r: 1 } }), { typ: "JOSE" }))).toBe(
      "typ is not JWT",
    );
    const payload = b64url(atticClaims({ "*": { r: 1 } }));
    expect(await rejection(`${b64url({ alg: "none", typ: "JWT" })}.${payload}.`)).toMatch(/base64url/);
    expect(await rejection(`${b64url({ alg: "none" })}.${payload}.c2ln`)).toBe(
      `algorithm none is not ${alg}`,
    );
    const jwt = await sign(alg, atticClaims({ c: { r: 1 } }));
    const [h, p, s] = jwt.split(".");
    expect(await rejection(`${h}.${p}=.${s}`)).toMatch(/base64url/);
  });

  it("rejects tokens signed with the other algorithm", async () => {
    const other = alg === "HS256" ? "RS256" : "HS256";
    expect(await rejection(await sign(other, atticClaims({ c: { r: 1 } })))).toBe(
      `algorithm ${other} is not ${alg}`,
    );
  });

  it("mints tokens it accepts, with attic's header", async () => {
    const jwt = await authority.mint({
      sub: "alice",
      validitySeconds: 60,
      now: NOW,
      caches: [["alice-*", perm("r", "w")]],
    });
    const header = JSON.parse(Buffer.from(jwt.split(".")[0] ?? "", "base64url").toString());
    expect(header).toEqual({ alg, typ: "JWT" });
    expect(JSON.stringify(header)).toBe(`{"alg":"${alg}","typ":"JWT"}`);
    const token = await authority.verify(jwt);
    expect(token?.sub).toBe("alice");
    expect(token?.getPermission("alice-x")).toEqual(perm("r", "w"));
    expect(token?.getPermission("bob")).toEqual(emptyPermission());
  });
});

describe("RS256 key confusion", () => {
  it("refuses HS256 tokens keyed with the RSA public key", async () => {
    const { authority } = await authorityAt({ rs256PublicKeyPem: rsaPublicPem });
    const payload = b64url(atticClaims({ "*": { r: 1, w: 1 } }));
    const forge = (headerAlg: string) => {
      const input = `${b64url({ alg: headerAlg, typ: "JWT" })}.${payload}`;
      return `${input}.${createHmac("sha256", rsaPublicPem).update(input).digest("base64url")}`;
    };
    expect(await authority.verifyWithReason(forge("HS256"))).toEqual({
      ok: false,
      reason: "algorithm HS256 is not RS256",
    });
    expect(await authority.verifyWithReason(forge("RS256"))).toEqual({
      ok: false,
      reason: "signature verification failed",
    });
  });
});

describe("public-key-only authority", () => {
  it("verifies RS256 tokens minted with the private key but cannot mint", async () => {
    const signer = await authorityAt({ rs256PrivateKeyPem: rsaPkcs8Pem });
    const verifier = await authorityAt({ rs256PublicKeyPem: rsaPublicPem });
    expect(signer.authority.canSign).toBe(true);
    expect(verifier.authority.canSign).toBe(false);
    expect(verifier.authority.alg).toBe("RS256");

    const jwt = await signer.authority.mint({
      sub: "ci",
      validitySeconds: 600,
      now: NOW,
      caches: [["*", perm("r")]],
    });
    expect((await verifier.authority.verify(jwt))?.getPermission("anything")).toEqual(perm("r"));
    await expect(verifier.authority.mint({ sub: "ci", validitySeconds: 600, caches: [] })).rejects.toThrow(
      "Pubkey-only JWT authentication cannot create signed JWTs",
    );
  });
});

describe("bound issuer and audiences", () => {
  const bounds = { issuer: "https://garret.example", audiences: ["push", "pull"] };

  it("requires a matching iss and an intersecting aud", async () => {
    const { authority } = await authorityAt({ hs256Secret: HS256_SECRET }, bounds);
    const caches = { c: { r: 1 } };
    const ok = async (extra: JWTPayload) =>
      (await authority.verify(await sign("HS256", atticClaims(caches, extra)))) !== null;
    expect(await ok({ iss: bounds.issuer, aud: "pull" })).toBe(true);
    expect(await ok({ iss: bounds.issuer, aud: ["other", "push"] })).toBe(true);
    expect(await ok({ iss: "https://evil.example", aud: "pull" })).toBe(false);
    expect(await ok({ aud: "pull" })).toBe(false);
    expect(await ok({ iss: bounds.issuer, aud: "other" })).toBe(false);
    expect(await ok({ iss: bounds.issuer })).toBe(false);
  });

  it("puts the bounds into minted tokens", async () => {
    const { authority } = await authorityAt({ hs256Secret: HS256_SECRET }, bounds);
    const jwt = await authority.mint({ sub: "a", validitySeconds: 60, now: NOW, caches: [["c", perm("r")]] });
    const token = await authority.verify(jwt);
    expect(token?.claims.iss).toBe(bounds.issuer);
    expect(token?.claims.aud).toEqual(bounds.audiences);
  });
});

describe("verification cache", () => {
  it("stops accepting a cached token once it expires", async () => {
    const { authority, clock } = await authorityAt({ hs256Secret: HS256_SECRET });
    const jwt = await sign("HS256", atticClaims({ c: { r: 1 } }, { exp: NOW + 100 }));
    const first = await authority.verify(jwt);
    expect(first).not.toBeNull();
    expect(await authority.verify(jwt)).toBe(first);
    clock.now = NOW + 100;
    expect(await authority.verify(jwt)).toBe(first);
    clock.now = NOW + 101;
    expect(await authority.verify(jwt)).toBeNull();
    expect(await authority.verify(jwt)).toBeNull();
  });

  it("lets a not-yet-valid token through once its time comes", async () => {
    const { authority, clock } = await authorityAt({ hs256Secret: HS256_SECRET });
    const jwt = await sign("HS256", atticClaims({ c: { r: 1 } }, { nbf: NOW + 50, iat: NOW + 60 }));
    expect(await authority.verifyWithReason(jwt)).toMatchObject({
      ok: false,
      reason: "token is not valid yet",
    });
    clock.now = NOW + 55;
    expect(await authority.verify(jwt)).toBeNull();
    clock.now = NOW + 60;
    expect(await authority.verify(jwt)).not.toBeNull();
  });

  it("shares frozen tokens between callers", async () => {
    const { authority } = await authorityAt({ hs256Secret: HS256_SECRET });
    const token = await authority.verify(await sign("HS256", atticClaims({ c: { r: 1 } })));
    expect(Object.isFrozen(token?.claims)).toBe(true);
    expect(Object.isFrozen(token?.claims[ATTIC_CLAIM])).toBe(true);
  });

  it("stays within its bound", async () => {
    const clock = { now: NOW };
    const authority = await createTokenAuthority(
      { hs256Secret: HS256_SECRET },
      {},
      { now: () => clock.now, cacheEntries: 10 },
    );
    const jwts = await Promise.all(
      Array.from({ length: 20 }, (_, i) => sign("HS256", atticClaims({ c: { r: 1 } }, { jti: `t${i}` }))),
    );
    const first = await authority.verify(jwts[0] ?? "");
    for (const jwt of jwts.slice(1)) expect(await authority.verify(jwt)).not.toBeNull();
    // The first token was evicted, so verifying it again builds a new object.
    const again = await authority.verify(jwts[0] ?? "");
    expect(again).not.toBeNull();
    expect(again).not.toBe(first);
  });
});
