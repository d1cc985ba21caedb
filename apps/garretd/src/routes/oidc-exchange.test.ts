/**
 * OIDC token exchange over HTTP: identity tokens signed by the test (RS256 keys served as a JWKS on
 * a loopback HTTP server, ES256 keys from a local JWKS file), GitHub Actions' claim set, trust
 * policies tried in order.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { emptyPermission, type Permission } from "@garret/protocol";
import { exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../../../../test/support/app.ts";
import type { OidcPolicy } from "../config/garret-config.ts";

const GITHUB = "https://token.actions.githubusercontent.com";
const GITLAB = "https://gitlab.example.com";
const AUDIENCE = "https://cache.test";

let t: TestApp;
let jwksServer: Server;
let jwksRequests = 0;
let dir: string;
type Key = Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];
let rsaKey: Key;
let strangerKey: Key;
let ecKey: Key;

const perm = (...letters: Array<keyof Permission>): Permission => {
  const p = emptyPermission();
  for (const l of letters) p[l] = true;
  return p;
};

function githubClaims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    sub: "repo:octo-org/app:ref:refs/heads/main",
    repository: "octo-org/app",
    repository_owner: "octo-org",
    ref: "refs/heads/main",
    workflow: "CI",
    event_name: "push",
    environment: "production",
    ...overrides,
  };
}

async function idToken(
  claims: Record<string, unknown>,
  opts: { key?: Key; alg?: string; kid?: string; iss?: string; aud?: string; expiresIn?: number } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: opts.alg ?? "RS256", kid: opts.kid ?? "gh-1", typ: "JWT" })
    .setIssuer(opts.iss ?? GITHUB)
    .setAudience(opts.aud ?? AUDIENCE)
    .setIssuedAt(now - 5)
    .setNotBefore(now - 5)
    .setExpirationTime(now + (opts.expiresIn ?? 300))
    .sign(opts.key ?? rsaKey);
}

async function exchange(token: string, validity?: string | number) {
  const res = await t.request("/_api/v1/oidc/exchange", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(validity === undefined ? { token } : { token, validity }),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

const claimsOf = (jwt: string) =>
  JSON.parse(Buffer.from(jwt.split(".")[1] ?? "", "base64url").toString()) as Record<string, unknown>;

beforeAll(async () => {
  const rsa = await generateKeyPair("RS256", { extractable: true });
  rsaKey = rsa.privateKey;
  strangerKey = (await generateKeyPair("RS256")).privateKey;
  const ec = await generateKeyPair("ES256", { extractable: true });
  ecKey = ec.privateKey;
  const rsaJwk: JWK = { ...(await exportJWK(rsa.publicKey)), kid: "gh-1", alg: "RS256", use: "sig" };
  const ecJwk: JWK = { ...(await exportJWK(ec.publicKey)), kid: "gl-1", alg: "ES256", use: "sig" };

  jwksServer = createServer((req, res) => {
    jwksRequests++;
    if (req.url !== "/.well-known/jwks") {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [rsaJwk] }));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, "127.0.0.1", resolve));
  const port = (jwksServer.address() as AddressInfo).port;

  dir = await mkdtemp(join(tmpdir(), "garret-oidc-"));
  const jwksFile = join(dir, "gitlab-jwks.json");
  await writeFile(jwksFile, JSON.stringify({ keys: [ecJwk] }));

  const policies: OidcPolicy[] = [
    {
      name: "github-main",
      issuer: GITHUB,
      jwksUrl: `http://127.0.0.1:${port}/.well-known/jwks`,
      audiences: [AUDIENCE],
      claims: [
        ["repository", ["octo-org/*"]],
        ["ref", ["refs/heads/main", "refs/tags/v*"]],
      ],
      caches: [["octo-*", perm("r", "w")]],
      maxValiditySeconds: 600,
    },
    {
      name: "github-read",
      issuer: GITHUB,
      jwksUrl: `http://127.0.0.1:${port}/.well-known/jwks`,
      audiences: [AUDIENCE],
      claims: [["repository_owner", ["octo-org"]]],
      caches: [["octo-*", perm("r")]],
      maxValiditySeconds: 300,
    },
    {
      name: "gitlab",
      issuer: GITLAB,
      jwksFile,
      audiences: ["garret", AUDIENCE],
      claims: [["project_path", ["group/*"]]],
      caches: [["gl-*", perm("r")]],
      maxValiditySeconds: 120,
    },
  ];
  t = await createTestApp({ settings: { oidcPolicies: policies } });
  await t.createCache("octo-app");
  await t.createCache("other");
  await t.createCache("gl-cache");
});

afterAll(async () => {
  await t.close();
  await new Promise<void>((resolve) => jwksServer.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
});

describe("POST /_api/v1/oidc/exchange", () => {
  it("gives a workflow on an allowed repository and branch a token for the mapped caches", async () => {
    const r = await exchange(await idToken(githubClaims()));
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ sub: "oidc:octo-org/app:refs/heads/main", policy: "github-main" });
    const token = r.json.token as string;
    const claims = claimsOf(token);
    expect(claims).toEqual({
      exp: r.json.exp,
      nbf: r.json.nbf,
      sub: "oidc:octo-org/app:refs/heads/main",
      jti: r.json.jti,
      "https://jwt.attic.rs/v1": { caches: { "octo-*": { r: 1, w: 1 } } },
    });
    expect((r.json.exp as number) - (r.json.nbf as number)).toBe(600);
    expect((await t.request("/_api/v1/cache-config/octo-app", { token })).status).toBe(200);
    expect((await t.request("/_api/v1/cache-config/other", { token })).status).toBe(401);
    expect(jwksRequests).toBeGreaterThan(0);

    // Recorded, so listable and revocable like any minted token (by a full admin: OIDC subjects
    // are outside every scoped admin's namespace).
    const admin = await t.tokens.mint({
      sub: "ops",
      validitySeconds: 600,
      caches: [["*", perm("r", "w", "d", "cc", "cr", "cq", "cd")]],
      extraClaims: { "https://garret.dev/v1": { admin: true } },
    });
    const listing = await t.request("/_api/v1/tokens?sub=oidc:octo-org/app:refs/heads/main", {
      token: admin,
    });
    const tokens = ((await listing.json()) as { tokens: Array<Record<string, unknown>> }).tokens;
    expect(tokens[0]).toMatchObject({ jti: r.json.jti, origin: "oidc", minted_by: "oidc:github-main" });
    await t.request(`/_api/v1/tokens/${r.json.jti as string}`, { method: "DELETE", token: admin });
    expect((await t.request("/_api/v1/cache-config/octo-app", { token })).status).toBe(401);
  });

  it("falls through to the next policy and caps the validity at its maximum", async () => {
    const r = await exchange(
      await idToken(githubClaims({ ref: "refs/pull/7/merge", event_name: "pull_request" })),
      "1 day",
    );
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ sub: "oidc:octo-org/app:refs/pull/7/merge", policy: "github-read" });
    expect(claimsOf(r.json.token as string)["https://jwt.attic.rs/v1"]).toEqual({
      caches: { "octo-*": { r: 1 } },
    });
    expect((r.json.exp as number) - (r.json.nbf as number)).toBe(300);
    const shorter = await exchange(await idToken(githubClaims()), 60);
    expect((shorter.json.exp as number) - (shorter.json.nbf as number)).toBe(60);
  });

  it("accepts ES256 identity tokens checked against a local JWKS file", async () => {
    const token = await idToken(
      { sub: "project_path:group/app:ref_type:branch:ref:main", project_path: "group/app" },
      { key: ecKey, alg: "ES256", kid: "gl-1", iss: GITLAB, aud: "garret" },
    );
    const r = await exchange(token);
    expect(r.status).toBe(200);
    expect(r.json.sub).toBe("oidc:project_path:group/app:ref_type:branch:ref:main");
  });

  it("refuses other repositories, expired tokens, wrong audiences, unknown issuers and foreign keys with 401", async () => {
    const cases: Array<[string, Promise<string>, RegExp]> = [
      [
        "another repository",
        idToken(githubClaims({ repository: "evil-org/app", repository_owner: "evil-org" })),
        /claim repository_owner="evil-org" does not match/,
      ],
      ["expired", idToken(githubClaims(), { expiresIn: -60 }), /expired/],
      ["wrong audience", idToken(githubClaims(), { aud: "https://elsewhere" }), /audience/],
      [
        "unknown issuer",
        idToken(githubClaims(), { iss: "https://issuer.invalid" }),
        /no trust policy for issuer/,
      ],
      ["foreign key", idToken(githubClaims(), { key: strangerKey }), /signature/],
      ["garbage", Promise.resolve("not-a-jwt"), /malformed/],
    ];
    for (const [what, pending, message] of cases) {
      const r = await exchange(await pending);
      expect({ what, status: r.status, error: r.json.error }).toEqual({
        what,
        status: 401,
        error: "IdTokenRejected",
      });
      expect(r.json.message).toMatch(message);
    }
  });

  it("is disabled without policies", async () => {
    const bare = await createTestApp();
    try {
      const res = await bare.request("/_api/v1/oidc/exchange", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ token: await idToken(githubClaims()) }),
      });
      expect(res.status).toBe(401);
      expect(((await res.json()) as { message: string }).message).toContain("no OIDC trust policies");
    } finally {
      await bare.close();
    }
  });
});
