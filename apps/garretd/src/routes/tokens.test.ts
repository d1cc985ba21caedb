/**
 * Token administration over HTTP (garret extension): admins mint tokens no larger than their own,
 * every minted token is recorded and listed, revocation by jti or by subject makes tokens
 * anonymous (including atticd-style tokens without a jti), and state changes are audited. Runs on
 * every database kind.
 */
import { generateKeyPairSync } from "node:crypto";
import { PERMISSION_LETTERS } from "@garret/protocol";
import { createTokenAuthority, garretGrantClaims } from "@garret/token";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../../../../test/support/app.ts";
import { grant } from "../../../../test/support/grants.ts";
import { describeEachDb } from "../../../../test/support/postgres.ts";
import { createLogger } from "../log.ts";

describeEachDb("token administration over HTTP", (getDb, kind) => {
  let t: TestApp;
  let admin: string;
  let teamAdmin: string;
  let plain: string;

  async function mintAdmin(
    sub: string,
    grants: Record<string, string[]>,
    validitySeconds = 3600,
  ): Promise<string> {
    return t.tokens.mint({
      sub,
      validitySeconds,
      caches: Object.entries(grants).map(([p, l]) => [p, grant(l)]),
      extraClaims: garretGrantClaims({ admin: true }),
    });
  }

  async function api(method: string, path: string, token: string | null, body?: unknown) {
    const res = await t.request(path, {
      method,
      token,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : null };
  }

  const cacheConfig = (name: string, token: string | null) =>
    api("GET", `/_api/v1/cache-config/${name}`, token);

  beforeAll(async () => {
    t = await createTestApp({ db: getDb() });
    for (const name of ["team-a", "team-b", "other"]) await t.createCache(name);
    admin = await mintAdmin("root-admin", { "*": [...PERMISSION_LETTERS] }, 86_400);
    teamAdmin = await mintAdmin("team-admin", { "team-*": ["r", "w"] }, 3600);
    plain = await t.mintToken("plain", { "*": [...PERMISSION_LETTERS] });
  });
  afterAll(() => t.close());

  describe("POST /_api/v1/tokens", () => {
    it("lets an admin mint a narrower token that works for exactly its grants", async () => {
      const minted = await api("POST", "/_api/v1/tokens", teamAdmin, {
        sub: "team-admin/ci-team-a",
        validity: "10 min",
        caches: { "team-a": { r: 1, w: 1 } },
      });
      expect(minted.status).toBe(200);
      const { token, jti, sub, exp, nbf } = minted.json as {
        token: string;
        jti: string;
        sub: string;
        exp: number;
        nbf: number;
      };
      expect(sub).toBe("team-admin/ci-team-a");
      expect(exp - nbf).toBe(600);
      const payload = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString()) as Record<
        string,
        unknown
      >;
      expect(payload).toEqual({
        exp,
        nbf,
        sub: "team-admin/ci-team-a",
        jti,
        "https://jwt.attic.rs/v1": { caches: { "team-a": { r: 1, w: 1 } } },
      });
      expect((await cacheConfig("team-a", token)).status).toBe(200);
      expect((await cacheConfig("team-b", token)).status).toBe(401);
      // Not an admin: it may not mint in turn.
      const again = await api("POST", "/_api/v1/tokens", token, { sub: "x", validity: 60, caches: {} });
      expect(again).toMatchObject({ status: 403, json: { error: "AccessError" } });
    });

    it("refuses patterns, bits and validity beyond the minter's own", async () => {
      const mint = (body: Record<string, unknown>) =>
        api("POST", "/_api/v1/tokens", teamAdmin, { sub: "team-admin/x", validity: 60, ...body });
      const pattern = await mint({ caches: { "*": { r: 1 } } });
      expect(pattern.status).toBe(403);
      expect(pattern.json).toMatchObject({ error: "PermissionExceeded" });
      expect(String(pattern.json?.message)).toContain('"*" needs r');
      expect((await mint({ caches: { other: { r: 1 } } })).status).toBe(403);
      expect((await mint({ caches: { "team*": { r: 1 } } })).status).toBe(403);
      const bits = await mint({ caches: { "team-a": { r: 1, d: 1 } } });
      expect(bits).toMatchObject({ status: 403, json: { error: "PermissionExceeded" } });
      expect(String(bits.json?.message)).toContain("needs d");
      const validity = await mint({ validity: "2 hours", caches: { "team-a": { r: 1 } } });
      expect(validity).toMatchObject({ status: 403, json: { error: "PermissionExceeded" } });
      expect(String(validity.json?.message)).toContain("expires");
      expect((await mint({ caches: { "team-x-*": { r: 1, w: 1 } } })).status).toBe(200);
    });

    it("mints admin tokens only for admins, and refuses non-admins and anonymous callers", async () => {
      const sub = await api("POST", "/_api/v1/tokens", admin, {
        sub: "deputy",
        validity: "1h",
        caches: { "team-*": { r: 1 } },
        admin: true,
      });
      expect(sub.status).toBe(200);
      const deputy = (sub.json as { token: string }).token;
      expect((await api("GET", "/_api/v1/tokens", deputy)).status).toBe(200);
      expect(
        (await api("POST", "/_api/v1/tokens", plain, { sub: "x", validity: 60, caches: {} })).status,
      ).toBe(403);
      expect(
        (await api("POST", "/_api/v1/tokens", null, { sub: "x", validity: 60, caches: {} })).status,
      ).toBe(401);
    });

    it("rejects malformed requests with 400", async () => {
      const bad = [
        { sub: "", validity: 60, caches: {} },
        { sub: "x", validity: "soon", caches: {} },
        { sub: "x", validity: 0, caches: {} },
        { sub: "x", validity: 60, caches: { "bad name": { r: 1 } } },
        { sub: "x", validity: 60, caches: { a: { r: 2 } } },
        { sub: "x", validity: 60, caches: { a: { read: 1 } } },
      ];
      for (const body of bad) expect((await api("POST", "/_api/v1/tokens", admin, body)).status).toBe(400);
    });
  });

  describe("GET /_api/v1/tokens", () => {
    it("lists recorded tokens for admins only", async () => {
      const minted = await api("POST", "/_api/v1/tokens", admin, {
        sub: "listed",
        validity: 120,
        caches: { other: { r: 1 } },
      });
      const jti = (minted.json as { jti: string }).jti;
      const listing = await api("GET", "/_api/v1/tokens?sub=listed", admin);
      expect(listing.status).toBe(200);
      const tokens = (listing.json as { tokens: Array<Record<string, unknown>> }).tokens;
      expect(tokens).toHaveLength(1);
      expect(tokens[0]).toMatchObject({
        jti,
        sub: "listed",
        caches: { other: { r: 1 } },
        admin: false,
        origin: "api",
        minted_by: "root-admin",
        revoked_at: null,
      });
      expect((await api("GET", "/_api/v1/tokens", plain)).status).toBe(403);
      expect((await api("GET", "/_api/v1/tokens", null)).status).toBe(401);
    });
  });

  describe("revocation", () => {
    it("makes a token anonymous at once when revoked by jti", async () => {
      const minted = await api("POST", "/_api/v1/tokens", admin, {
        sub: "victim",
        validity: 600,
        caches: { other: { r: 1 } },
      });
      const { token, jti } = minted.json as { token: string; jti: string };
      expect((await cacheConfig("other", token)).status).toBe(200);
      const revoked = await api("DELETE", `/_api/v1/tokens/${jti}`, admin);
      expect(revoked).toMatchObject({ status: 200, json: { jti, sub: "victim" } });
      expect((await cacheConfig("other", token)).status).toBe(401);
      const listed = await api("GET", "/_api/v1/tokens?sub=victim", admin);
      expect((listed.json as { tokens: Array<{ revoked_by: string }> }).tokens[0]?.revoked_by).toBe(
        "root-admin",
      );
      expect((await api("DELETE", "/_api/v1/tokens/no-such-jti", admin)).status).toBe(404);
      expect((await api("DELETE", `/_api/v1/tokens/${jti}`, plain)).status).toBe(403);
    });

    it("revokes every earlier token of a subject, including atticd-style tokens without jti", async () => {
      const legacy = await t.mintToken("someone", { other: ["r"] });
      const minted = await api("POST", "/_api/v1/tokens", admin, {
        sub: "someone",
        validity: 600,
        caches: { other: { r: 1 } },
      });
      const recorded = (minted.json as { token: string }).token;
      const bystander = await t.mintToken("bystander", { other: ["r"] });
      for (const tok of [legacy, recorded, bystander])
        expect((await cacheConfig("other", tok)).status).toBe(200);

      const res = await api("DELETE", "/_api/v1/tokens?sub=someone", admin);
      expect(res).toMatchObject({ status: 200, json: { sub: "someone", tokens: 1 } });
      expect((await cacheConfig("other", legacy)).status).toBe(401);
      expect((await cacheConfig("other", recorded)).status).toBe(401);
      expect((await cacheConfig("other", bystander)).status).toBe(200);

      // Tokens issued after the revocation's second work again.
      const revokedAt = (res.json as { revoked_at: number }).revoked_at;
      while (Date.now() / 1000 < revokedAt + 1) await new Promise((r) => setTimeout(r, 50));
      const fresh = await t.mintToken("someone", { other: ["r"] });
      expect((await cacheConfig("other", fresh)).status).toBe(200);
    });

    it("takes revocations made by another replica from the database on refresh", async () => {
      const other = await createTestApp({ db: t.db, tokens: t.tokens });
      try {
        const victim = await t.mintToken("cross-replica", { other: ["r"] });
        expect((await cacheConfig("other", victim)).status).toBe(200);
        const res = await other.request("/_api/v1/tokens?sub=cross-replica", {
          method: "DELETE",
          token: admin,
        });
        expect(res.status).toBe(200);
        // This replica has not reloaded yet; the reload (the timer's job) makes it see the revocation.
        expect((await cacheConfig("other", victim)).status).toBe(200);
        await t.deps.state.revocations.refresh();
        expect((await cacheConfig("other", victim)).status).toBe(401);
      } finally {
        await other.close();
      }
    });
  });

  describe("audit", () => {
    it("logs who created, configured, destroyed caches and minted or revoked tokens", async () => {
      const lines: Array<Record<string, unknown>> = [];
      const saved = t.deps.log;
      t.deps.log = createLogger("info", (line) => lines.push(JSON.parse(line) as Record<string, unknown>));
      try {
        const body = {
          keypair: "Generate",
          is_public: false,
          store_dir: "/nix/store",
          priority: 41,
          upstream_cache_key_names: [],
        };
        expect((await api("POST", "/_api/v1/cache-config/audited", admin, body)).status).toBe(200);
        expect((await api("PATCH", "/_api/v1/cache-config/audited", admin, { priority: 30 })).status).toBe(
          200,
        );
        expect((await api("DELETE", "/_api/v1/cache-config/audited", admin)).status).toBe(200);
        const minted = await api("POST", "/_api/v1/tokens", admin, {
          sub: "audited",
          validity: 60,
          caches: {},
        });
        await api("DELETE", `/_api/v1/tokens/${(minted.json as { jti: string }).jti}`, admin);
        await api("DELETE", "/_api/v1/tokens?sub=audited", admin);
      } finally {
        t.deps.log = saved;
      }
      const audits = lines.filter((l) => l.msg === "audit");
      expect(audits.map((a) => [a.action, a.sub])).toEqual([
        ["cache.create", "root-admin"],
        ["cache.configure", "root-admin"],
        ["cache.destroy", "root-admin"],
        ["token.mint", "root-admin"],
        ["token.revoke", "root-admin"],
        ["subject.revoke", "root-admin"],
      ]);
      expect(audits[0]).toMatchObject({ cache: "audited" });
      expect(JSON.stringify(lines)).not.toContain(admin);
    });
  });

  describe("atticd-minted tokens", () => {
    it("keep working with an RS256 key, and can be revoked by subject", async () => {
      const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
      const tokens = await createTokenAuthority({
        rs256PrivateKeyPem: privateKey.export({ type: "pkcs1", format: "pem" }) as string,
      });
      const rs = await createTestApp({ dbKind: kind, tokens });
      try {
        await rs.createCache("c");
        // Exactly atticadm's layout: no jti, no garret claim.
        const attic = await tokens.mint({
          sub: "alice",
          validitySeconds: 600,
          caches: [["c", grant(["r"])]],
        });
        const get = (tok: string) => rs.request("/_api/v1/cache-config/c", { token: tok });
        expect((await get(attic)).status).toBe(200);
        // Without the garret claim an atticd token is no admin, whatever its cache grants.
        expect((await rs.request("/_api/v1/tokens", { token: rs.rootToken })).status).toBe(403);
        const rsAdmin = await tokens.mint({
          sub: "ops",
          validitySeconds: 600,
          caches: [["*", grant([...PERMISSION_LETTERS])]],
          extraClaims: garretGrantClaims({ admin: true }),
        });
        expect(
          (await rs.request("/_api/v1/tokens?sub=alice", { method: "DELETE", token: rsAdmin })).status,
        ).toBe(200);
        expect((await get(attic)).status).toBe(401);
      } finally {
        await rs.close();
      }
    });
  });
});
