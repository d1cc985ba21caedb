/**
 * Private caches leak neither existence nor content: for every read endpoint, a stranger (no token,
 * or a token for other caches only) gets exactly the answer a cache that does not exist gives.
 * Secrets never reach the logs: the real process at debug level, driven with valid, forged and
 * expired tokens and presigned S3 redirects, never prints a token, the signing secret, the S3
 * secret key or a presigned signature.
 */
import { readFileSync } from "node:fs";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/app.ts";
import { type GarretdHandle, startGarretd } from "../support/garretd.ts";
import { createCache, makePath, putPath, type TestPath } from "./support.ts";

describe("private caches and strangers (in process)", () => {
  let t: TestApp;
  let stranger: string;
  let p: TestPath;
  beforeAll(async () => {
    t = await createTestApp();
    await t.createCache("hidden", { isPublic: false });
    await t.createCache("other", { isPublic: false });
    stranger = await t.mintToken("stranger", { other: ["r", "w"] });
    p = makePath("hidden-path", 10_000, 3);
    const res = await t.request("/_api/v1/upload-path", {
      method: "PUT",
      token: t.rootToken,
      headers: {
        "x-attic-nar-info": JSON.stringify({
          cache: "hidden",
          store_path_hash: p.hash,
          store_path: p.storePath,
          references: [],
          system: null,
          deriver: null,
          sigs: [],
          ca: null,
          nar_hash: p.narHash,
          nar_size: p.nar.length,
        }),
      },
      body: p.nar,
    });
    expect(res.status).toBe(200);
  });
  afterAll(() => t?.close());

  const endpoints: Array<[string, (cache: string, hash: string) => [string, RequestInit]]> = [
    ["narinfo", (c, h) => [`/${c}/${h}.narinfo`, {}]],
    ["narinfo HEAD", (c, h) => [`/${c}/${h}.narinfo`, { method: "HEAD" }]],
    ["NAR", (c, h) => [`/${c}/nar/${h}.nar`, {}]],
    ["nix-cache-info", (c) => [`/${c}/nix-cache-info`, {}]],
    ["cache-config", (c) => [`/_api/v1/cache-config/${c}`, {}]],
    [
      "get-missing-paths",
      (c, h) => [
        "/_api/v1/get-missing-paths",
        { method: "POST", body: JSON.stringify({ cache: c, store_path_hashes: [h] }) },
      ],
    ],
  ];

  for (const [name, make] of endpoints) {
    it(`${name}: a stranger's answer for the private cache equals the one for a missing cache`, async () => {
      for (const token of [null, () => stranger]) {
        const ask = async (cache: string) => {
          const [path, init] = make(cache, p.hash);
          const res = await t.request(path, { ...init, token: token?.() ?? null });
          return { status: res.status, body: (await res.text()).replaceAll(cache, "<cache>") };
        };
        const hidden = await ask("hidden");
        const missing = await ask("no-such-cache");
        expect(hidden.status).toBeGreaterThanOrEqual(400);
        expect(hidden).toEqual(missing);
        expect(hidden.body).not.toContain(p.narHash.slice(7));
      }
    });
  }
});

describe("secrets never reach the logs (real process, debug level, S3 redirects)", () => {
  let g: GarretdHandle;
  beforeAll(async () => {
    g = await startGarretd({
      db: "sqlite",
      storage: "s3",
      env: { GARRET_LOG: "debug" },
      // Whole-NAR chunks, so NAR downloads are presigned redirects.
      chunking: { narSizeThreshold: 10_000_000, minSize: 16_384, avgSize: 65_536, maxSize: 262_144 },
    });
  });
  afterAll(() => g?.stop());

  it("prints no token, signing secret, S3 secret key or presigned signature", async () => {
    // Public: presigned redirects go only to requests without credentials.
    await createCache(g.url, g.rootToken, "logs", true);
    const p = makePath("logs-path", 300_000, 9);
    expect(await putPath(g.url, g.rootToken, "logs", p)).toBe(200);
    const reader = await g.mintToken("reader", { logs: ["r"] });
    const config = readFileSync(g.configPath, "utf8");
    const hsSecret = /token-hs256-secret-base64 = "([^"]+)"/.exec(config)?.[1] as string;
    const s3Secret = /secret_access_key = "([^"]+)"/.exec(config)?.[1] as string;
    const expired = await new SignJWT({
      sub: "late",
      "https://jwt.attic.rs/v1": { caches: { logs: { r: 1 } } },
    })
      .setProtectedHeader({ alg: "HS256" })
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(Buffer.from(hsSecret, "base64"));
    const forged = `${reader.slice(0, -4)}AAAA`;
    const seen: string[] = [];
    for (const token of [g.rootToken, reader, expired, forged, "garbage.token.value"]) {
      for (const path of [
        `/logs/${p.hash}.narinfo`,
        `/logs/nar/${p.hash}.nar`,
        "/_api/v1/cache-config/logs",
      ]) {
        const res = await fetch(`${g.url}${path}`, {
          headers: { authorization: `Bearer ${token}` },
          redirect: "manual",
        });
        const location = res.headers.get("location");
        if (location) seen.push(location);
        await res.arrayBuffer();
      }
    }
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${g.url}/logs/nar/${p.hash}.nar`, { redirect: "manual" });
      const location = res.headers.get("location");
      if (location) seen.push(location);
      await res.arrayBuffer();
    }
    // Basic auth, as Nix sends a netrc token.
    await fetch(`${g.url}/logs/${p.hash}.narinfo`, {
      headers: { authorization: `Basic ${Buffer.from(`user:${reader}`).toString("base64")}` },
    });
    const logs = g.logs();
    expect(logs).toContain('"level":"debug"');
    const signatures = seen
      .map((u) => new URL(u).searchParams.get("X-Amz-Signature"))
      .filter((s) => s !== null);
    expect(signatures.length).toBeGreaterThan(0);
    for (const secret of [g.rootToken, reader, expired, forged, hsSecret, ...signatures]) {
      expect(logs.includes(secret), `a secret in the logs: ${secret.slice(0, 12)}…`).toBe(false);
    }
    // The JWT signature part alone, in case a token is logged in pieces.
    for (const token of [g.rootToken, reader]) expect(logs).not.toContain(token.split(".")[2]);
    expect(logs).not.toContain(`secret_access_key`);
    expect(s3Secret.length).toBeGreaterThan(0);
  });
});
