/**
 * attic's authorization matrix (attic-protocol §1.3-1.4), through HTTP, for every cache-scoped
 * endpoint: who gets 200, 401 (may not know the cache exists), 403 (may know, lacks the bit) and
 * 404. Differences from atticd are deliberate and listed in the README: narinfo/nar are authorized
 * before the object lookup, so a stranger probing a private cache always sees 401.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../../../../test/support/app.ts";

let t: TestApp;
const tokens: Record<string, string | null> = {};
const HASH = "nm1w9sdm6j6icmhd2q3260hl1w9zj6li";

beforeAll(async () => {
  t = await createTestApp();
  await t.createCache("priv");
  await t.createCache("pub", { isPublic: true });
  tokens.anon = null;
  tokens.other = await t.mintToken("other", { "other-*": ["r", "w", "d", "cc", "cr", "cq", "cd"] });
  tokens.ro = await t.mintToken("ro", { priv: ["r"], pub: ["r"] });
  tokens.pushOnly = await t.mintToken("push-only", { priv: ["w"] });
  tokens.rw = await t.mintToken("rw", { priv: ["r", "w"], pub: ["r", "w"] });
  tokens.configure = await t.mintToken("cfg", { priv: ["r", "cr"] });
  tokens.configureRetention = await t.mintToken("cfgq", { priv: ["r", "cr", "cq"] });
  tokens.create = await t.mintToken("create", { "new-*": ["cc"] });
  tokens.everywhereRead = await t.mintToken("star", { "*": ["r"] });
});
afterAll(() => t.close());

type Who = keyof typeof tokens;

async function call(method: string, path: string, who: Who, body?: unknown) {
  const res = await t.request(path, {
    method,
    token: tokens[who] ?? null,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const json = text.startsWith("{") ? (JSON.parse(text) as { error?: string; code?: number }) : null;
  return { status: res.status, error: json?.error, json, res };
}

const cases: Array<[string, string, string, Who, number, string?]> = [
  // endpoint, method, path, who, status, error
  ["nix-cache-info", "GET", "/priv/nix-cache-info", "anon", 401, "Unauthorized"],
  ["nix-cache-info", "GET", "/priv/nix-cache-info", "other", 401, "Unauthorized"],
  ["nix-cache-info", "GET", "/priv/nix-cache-info", "ro", 200],
  ["nix-cache-info", "GET", "/priv/nix-cache-info", "pushOnly", 403, "AccessError"],
  ["nix-cache-info", "GET", "/pub/nix-cache-info", "anon", 200],
  ["nix-cache-info", "GET", "/missing/nix-cache-info", "anon", 401, "Unauthorized"],
  ["nix-cache-info", "GET", "/missing/nix-cache-info", "everywhereRead", 404, "NoSuchCache"],
  ["cache-config", "GET", "/_api/v1/cache-config/priv", "anon", 401, "Unauthorized"],
  ["cache-config", "GET", "/_api/v1/cache-config/priv", "other", 401, "Unauthorized"],
  ["cache-config", "GET", "/_api/v1/cache-config/priv", "ro", 200],
  ["cache-config", "GET", "/_api/v1/cache-config/priv", "pushOnly", 403, "AccessError"],
  ["cache-config", "GET", "/_api/v1/cache-config/pub", "anon", 200],
  ["cache-config", "GET", "/_api/v1/cache-config/missing", "everywhereRead", 404, "NoSuchCache"],
  ["attic-cache-info", "GET", "/priv/attic-cache-info", "ro", 200],
  ["attic-cache-info", "GET", "/priv/attic-cache-info", "anon", 401, "Unauthorized"],
  ["narinfo", "GET", `/priv/${HASH}.narinfo`, "anon", 401, "Unauthorized"],
  ["narinfo", "GET", `/priv/${HASH}.narinfo`, "other", 401, "Unauthorized"],
  ["narinfo", "GET", `/priv/${HASH}.narinfo`, "ro", 404, "NoSuchObject"],
  ["narinfo", "GET", `/priv/${HASH}.narinfo`, "pushOnly", 403, "AccessError"],
  ["narinfo", "GET", `/pub/${HASH}.narinfo`, "anon", 404, "NoSuchObject"],
  ["narinfo", "HEAD", `/pub/${HASH}.narinfo`, "anon", 404],
  ["nar", "GET", `/priv/nar/${HASH}.nar`, "anon", 401, "Unauthorized"],
  ["nar", "GET", `/priv/nar/${HASH}.nar`, "ro", 404, "NoSuchObject"],
  ["nar", "GET", `/pub/nar/${HASH}.nar`, "anon", 404, "NoSuchObject"],
];

describe("access matrix: reads", () => {
  it.each(cases)("%s %s %s as %s → %i %s", async (_e, method, path, who, status, error) => {
    const r = await call(method, path, who);
    expect(r.status).toBe(status);
    if (error) expect(r.error).toBe(error);
    if (r.status === 200 && path.startsWith("/pub")) {
      expect(r.res.headers.get("x-attic-cache-visibility")).toBe("public");
    } else {
      expect(r.res.headers.get("x-attic-cache-visibility")).toBeNull();
    }
  });
});

describe("access matrix: get-missing-paths and upload-path", () => {
  const missing = (cache: string) => ({ cache, store_path_hashes: [HASH] });
  it.each([
    ["anon", "priv", 401, "Unauthorized"],
    ["other", "priv", 401, "Unauthorized"],
    ["ro", "priv", 403, "AccessError"],
    // The cache is named in the body, which is read only for callers with a token (atticd: 403).
    ["anon", "pub", 401, "Unauthorized"],
    ["pushOnly", "priv", 200, undefined],
    ["rw", "missing", 401, "Unauthorized"],
  ] as Array<
    [Who, string, number, string | undefined]
  >)("get-missing-paths as %s on %s → %i", async (who, cache, status, error) => {
    const r = await call("POST", "/_api/v1/get-missing-paths", who, missing(cache));
    expect(r.status).toBe(status);
    if (error) expect(r.error).toBe(error);
    if (status === 200) expect(r.json).toEqual({ missing_paths: [HASH] });
  });

  it.each([
    ["anon", "priv", 401, "Unauthorized"],
    ["ro", "priv", 403, "AccessError"],
    // Refused before the NAR info (header or preamble) is read (atticd: 403).
    ["anon", "pub", 401, "Unauthorized"],
    ["other", "priv", 401, "Unauthorized"],
  ] as Array<
    [Who, string, number, string]
  >)("upload-path as %s on %s → %i", async (who, cache, status, error) => {
    const info = {
      cache,
      store_path_hash: HASH,
      store_path: `/nix/store/${HASH}-x`,
      references: [],
      system: null,
      deriver: null,
      sigs: [],
      ca: null,
      nar_hash: `sha256:${"0".repeat(64)}`,
      nar_size: 8,
    };
    const headers: Record<string, string> = { "x-attic-nar-info": JSON.stringify(info) };
    const token = tokens[who];
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await t.request("/_api/v1/upload-path", { method: "PUT", headers, body: "12345678" });
    expect(res.status).toBe(status);
    expect(((await res.json()) as { error: string }).error).toBe(error);
  });
});

describe("access matrix: administration", () => {
  it("create needs cc on the name (from the token only)", async () => {
    const body = {
      keypair: "Generate",
      is_public: false,
      store_dir: "/nix/store",
      priority: 41,
      upstream_cache_key_names: [],
    };
    expect((await call("POST", "/_api/v1/cache-config/new-a", "anon", body)).status).toBe(401);
    expect((await call("POST", "/_api/v1/cache-config/priv", "ro", body)).status).toBe(403);
    expect((await call("POST", "/_api/v1/cache-config/new-a", "create", body)).status).toBe(200);
    const again = await call("POST", "/_api/v1/cache-config/new-a", "create", body);
    expect(again.status).toBe(400);
    expect(again.error).toBe("CacheAlreadyExists");
  });

  it("configure needs cr, and cq when retention is given", async () => {
    expect((await call("PATCH", "/_api/v1/cache-config/priv", "ro", { priority: 50 })).status).toBe(403);
    expect((await call("PATCH", "/_api/v1/cache-config/priv", "anon", { priority: 50 })).status).toBe(401);
    expect((await call("PATCH", "/_api/v1/cache-config/priv", "configure", { priority: 50 })).status).toBe(
      200,
    );
    const noCq = await call("PATCH", "/_api/v1/cache-config/priv", "configure", {
      priority: 51,
      retention_period: { Period: 60 },
    });
    expect(noCq.status).toBe(403);
    const cfg = await call("GET", "/_api/v1/cache-config/priv", "ro");
    expect(cfg.json).toMatchObject({ priority: 50, retention_period: "Global" });
    const withCq = await call("PATCH", "/_api/v1/cache-config/priv", "configureRetention", {
      retention_period: { Period: 60 },
    });
    expect(withCq.status).toBe(200);
    expect((await call("GET", "/_api/v1/cache-config/priv", "ro")).json).toMatchObject({
      retention_period: { Period: 60 },
    });
    const nothing = await call("PATCH", "/_api/v1/cache-config/priv", "configure", { public_key: "x" });
    expect(nothing.status).toBe(400);
    expect(nothing.error).toBe("RequestError");
  });

  it("destroy needs cd; a destroyed cache is gone", async () => {
    await t.createCache("doomed");
    const destroyer = await t.mintToken("d", { doomed: ["cd"] });
    tokens.destroyer = destroyer;
    expect((await call("DELETE", "/_api/v1/cache-config/doomed", "ro")).status).toBe(401);
    expect((await call("DELETE", "/_api/v1/cache-config/doomed", "destroyer")).status).toBe(200);
    const again = await call("DELETE", "/_api/v1/cache-config/doomed", "destroyer");
    expect(again.status).toBe(404);
    expect(again.error).toBe("NoSuchCache");
  });
});

describe("request errors", () => {
  it("unknown routes and suffixes are 404 NotFound JSON", async () => {
    for (const path of [
      "/_api/v1/nope",
      "/priv/foo.ls",
      `/priv/${HASH}.narinfo.xz`,
      `/priv/nar/${HASH}.nar.zst`,
    ]) {
      const r = await call("GET", path, "ro");
      expect(r.status, path).toBe(404);
      expect(r.error, path).toBe("NotFound");
    }
  });
  it("an invalid store path hash is a 400, not atticd's 500", async () => {
    const r = await call("GET", "/priv/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee.narinfo", "ro");
    expect(r.status).toBe(400);
    expect(r.error).toBe("InvalidStorePathHash");
  });
  it("malformed JSON bodies are 400 RequestError", async () => {
    const res = await t.request("/_api/v1/get-missing-paths", {
      method: "POST",
      token: tokens.rw,
      headers: { "content-type": "application/json" },
      body: "{not json",
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe("RequestError");
    const wrongShape = await call("POST", "/_api/v1/get-missing-paths", "rw", {
      cache: "priv",
      store_path_hashes: "x",
    });
    expect(wrongShape.status).toBe(400);
  });
  it("a bad token is anonymous, not an error", async () => {
    const res = await t.request("/pub/nix-cache-info", { headers: { authorization: "Bearer not.a.jwt" } });
    expect(res.status).toBe(200);
    const priv = await t.request("/priv/nix-cache-info", { headers: { authorization: "Bearer not.a.jwt" } });
    expect(priv.status).toBe(401);
  });
  it("Basic auth carries the token as the password, as Nix sends it from netrc", async () => {
    const basic = Buffer.from(`:${tokens.ro}`).toString("base64");
    const res = await t.request("/priv/nix-cache-info", { headers: { authorization: `Basic ${basic}` } });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("WantMassQuery: 1\nStoreDir: /nix/store\nPriority: 50\n");
  });
});
