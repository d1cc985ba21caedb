/**
 * Token administration against real garretd processes: an admin mints a narrower token, a
 * revocation (by jti, and by subject for an atticd-style token without jti) made through one
 * process is refused by the other within the configured refresh interval, and a CI identity token
 * is exchanged for a cache token under a `[[garret.oidc]]` policy from server.toml. With Postgres
 * (GARRET_TEST_POSTGRES_URL) two processes share one database and the subject revocation goes
 * through `garretadm tokens revoke`; with the embedded SQLite database one process plays both parts.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { garretGrantClaims } from "@garret/token";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type DbKind,
  freePort,
  GARRETADM_BIN,
  GARRETD_BIN,
  type GarretdHandle,
  type ProcessResult,
  runNode,
  startGarretd,
} from "../support/garretd.ts";
import { grant } from "../support/grants.ts";
import { postgresTestUrl } from "../support/postgres.ts";

const dbs: DbKind[] = postgresTestUrl() ? ["sqlite", "postgres"] : ["sqlite"];
const REFRESH_MS = 300;
const ISSUER = "https://token.actions.githubusercontent.com";
const AUDIENCE = "https://garret.test";

interface Replica {
  url: string;
  stop(): Promise<void>;
}

/** A second garretd on the same server.toml (same database and key), serving the API only. */
async function startReplica(configPath: string): Promise<Replica> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    process.execPath,
    [GARRETD_BIN, "-f", configPath, "--mode", "api-server", "--listen", `127.0.0.1:${port}`],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on("data", (d: Buffer) => {
      output += d.toString();
      if (output.includes('"msg":"listening"')) resolve();
    });
    child.stderr?.on("data", (d: Buffer) => {
      output += d.toString();
    });
    child.once("exit", (code) => reject(new Error(`replica exited with ${code}:\n${output}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

function runGarretadm(configPath: string, args: string[]): Promise<ProcessResult> {
  return runNode([GARRETADM_BIN, "-f", configPath, ...args]);
}

async function call(base: string, method: string, path: string, token: string | null, body?: unknown) {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return {
    status: res.status,
    json: text.startsWith("{") ? (JSON.parse(text) as Record<string, unknown>) : null,
  };
}

/** Milliseconds until `path` answers 401 for `token`; fails after 10 s. */
async function msUntilRefused(base: string, path: string, token: string): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < 10_000) {
    if ((await call(base, "GET", path, token)).status === 401) return Date.now() - started;
    await sleep(25);
  }
  throw new Error(`${path} still accepts the revoked token after 10 s`);
}

for (const db of dbs) {
  describe(`token administration across processes [${db}]`, () => {
    let g: GarretdHandle;
    let replica: Replica | null = null;
    let other: string;
    let jwks: Server;
    let idKey: Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];
    let admin: string;
    let dataDir: string;

    beforeAll(async () => {
      const pair = await generateKeyPair("RS256", { extractable: true });
      idKey = pair.privateKey;
      const jwk = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "RS256" };
      jwks = createServer((_req, res) => {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [jwk] }));
      });
      await new Promise<void>((resolve) => jwks.listen(0, "127.0.0.1", resolve));
      const jwksPort = (jwks.address() as AddressInfo).port;

      dataDir = await mkdtemp(join(tmpdir(), "garret-token-admin-"));
      g = await startGarretd({
        db,
        env: { GARRET_DATA_DIR: dataDir },
        extraToml: `
[garret.tokens]
revocation-refresh-interval = "${REFRESH_MS}ms"

[[garret.oidc]]
name = "github"
issuer = "${ISSUER}"
jwks-url = "http://127.0.0.1:${jwksPort}/jwks"
audience = "${AUDIENCE}"
claims = { repository = "octo-org/*", ref = "refs/heads/main" }
caches = { "octo-*" = ["r", "w"] }
max-validity = "15m"

# A claim pattern a backtracking matcher would take hours on (issue 14).
[[garret.oidc]]
name = "many-stars"
issuer = "${ISSUER}"
jwks-url = "http://127.0.0.1:${jwksPort}/jwks"
audience = "${AUDIENCE}"
claims = { repository = "${"*a".repeat(20)}*b" }
caches = { "octo-*" = ["r"] }
max-validity = "5m"
`,
      });
      if (db === "postgres") replica = await startReplica(g.configPath);
      other = replica?.url ?? g.url;
      admin = await g.tokens.mint({
        sub: "ops",
        validitySeconds: 3600,
        caches: [["*", grant(["r", "w", "d", "cc", "cr", "cq", "cd"])]],
        extraClaims: garretGrantClaims({ admin: true }),
      });
      for (const name of ["octo-app", "secret"]) {
        const res = await call(g.url, "POST", `/_api/v1/cache-config/${name}`, g.rootToken, {
          keypair: "Generate",
          is_public: false,
          store_dir: "/nix/store",
          priority: 41,
          upstream_cache_key_names: [],
        });
        expect(res.status).toBe(200);
      }
    });
    afterAll(async () => {
      await replica?.stop();
      await g?.stop();
      await new Promise<void>((resolve) => jwks?.close(() => resolve()));
      await rm(dataDir, { recursive: true, force: true });
    });

    it("mints a narrower token on one process that works on the other, and never a wider one", async () => {
      const minted = await call(g.url, "POST", "/_api/v1/tokens", admin, {
        sub: "ci",
        validity: "10m",
        caches: { "octo-*": { r: 1 } },
      });
      expect(minted.status).toBe(200);
      const token = minted.json?.token as string;
      expect((await call(other, "GET", "/_api/v1/cache-config/octo-app", token)).status).toBe(200);
      expect((await call(other, "GET", "/_api/v1/cache-config/secret", token)).status).toBe(401);
      const wider = await call(other, "POST", "/_api/v1/tokens", token, {
        sub: "x",
        validity: 60,
        caches: {},
      });
      expect(wider.status).toBe(403);
    });

    it("refuses a token revoked by jti on the other process within the refresh interval", async () => {
      const minted = await call(g.url, "POST", "/_api/v1/tokens", admin, {
        sub: "doomed",
        validity: "10m",
        caches: { "*": { r: 1 } },
      });
      const { token, jti } = minted.json as { token: string; jti: string };
      expect((await call(g.url, "GET", "/_api/v1/cache-config/octo-app", token)).status).toBe(200);
      expect((await call(other, "DELETE", `/_api/v1/tokens/${jti}`, admin)).status).toBe(200);
      const elapsed = await msUntilRefused(g.url, "/_api/v1/cache-config/octo-app", token);
      expect(elapsed).toBeLessThan(REFRESH_MS + 1500);
    });

    it("refuses an atticd-style token (no jti) revoked by subject, on both processes", async () => {
      const legacy = await g.mintToken("legacy", { "*": ["r"] });
      expect((await call(other, "GET", "/_api/v1/cache-config/octo-app", legacy)).status).toBe(200);
      if (db === "postgres") {
        const r = await runGarretadm(g.configPath, ["tokens", "revoke", "--sub", "legacy"]);
        expect(r).toMatchObject({
          code: 0,
          stdout: "revoked every token of legacy issued up to now (0 recorded)\n",
        });
      } else {
        expect((await call(g.url, "DELETE", "/_api/v1/tokens?sub=legacy", admin)).status).toBe(200);
      }
      for (const base of [g.url, other]) {
        expect(await msUntilRefused(base, "/_api/v1/cache-config/octo-app", legacy)).toBeLessThan(
          REFRESH_MS + 1500,
        );
      }
      // atticd-minted tokens of other subjects are untouched.
      expect((await call(other, "GET", "/_api/v1/cache-config/octo-app", g.rootToken)).status).toBe(200);
    });

    it("exchanges a CI identity token under the server.toml policy, and refuses other repositories", async () => {
      const idToken = (repository: string) =>
        new SignJWT({ repository, repository_owner: repository.split("/")[0], ref: "refs/heads/main" })
          .setProtectedHeader({ alg: "RS256", kid: "k1" })
          .setIssuer(ISSUER)
          .setAudience(AUDIENCE)
          .setSubject(`repo:${repository}:ref:refs/heads/main`)
          .setIssuedAt()
          .setExpirationTime("5m")
          .sign(idKey);
      const ok = await call(g.url, "POST", "/_api/v1/oidc/exchange", null, {
        token: await idToken("octo-org/app"),
      });
      expect(ok.status).toBe(200);
      expect(ok.json?.sub).toBe("oidc:octo-org/app:refs/heads/main");
      expect((ok.json?.exp as number) - (ok.json?.nbf as number)).toBe(900);
      const token = ok.json?.token as string;
      expect((await call(other, "GET", "/_api/v1/cache-config/octo-app", token)).status).toBe(200);
      expect((await call(other, "GET", "/_api/v1/cache-config/secret", token)).status).toBe(401);

      const denied = await call(other, "POST", "/_api/v1/oidc/exchange", null, {
        token: await idToken("evil-org/app"),
      });
      expect(denied.status).toBe(401);
      expect(denied.json?.error).toBe("IdTokenRejected");

      // Claim globs match without backtracking: 20 stars against 60 characters, both ways.
      const stars = await call(g.url, "POST", "/_api/v1/oidc/exchange", null, {
        token: await idToken("a".repeat(60)),
      });
      expect(stars.status).toBe(401);
      const starsHit = await call(g.url, "POST", "/_api/v1/oidc/exchange", null, {
        token: await idToken(`${"a".repeat(59)}b`),
      });
      expect(starsHit.status).toBe(200);
      expect(starsHit.json?.policy).toBe("many-stars");

      // An identity token without exp would be good forever: refused (issue 14).
      const forever = await new SignJWT({ repository: "octo-org/app", ref: "refs/heads/main" })
        .setProtectedHeader({ alg: "RS256", kid: "k1" })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setSubject("repo:octo-org/app:ref:refs/heads/main")
        .setIssuedAt()
        .sign(idKey);
      const noExp = await call(g.url, "POST", "/_api/v1/oidc/exchange", null, { token: forever });
      expect(noExp.status).toBe(401);
      expect(noExp.json?.error).toBe("IdTokenRejected");
      expect(String(noExp.json?.message)).toContain("no exp claim");
    });
  });
}
