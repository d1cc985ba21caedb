/**
 * The `garret_upstreams` field of cache-config (pull-through upstreams): set on create or
 * configure (needs `cr`), checked (http(s) URLs, Nix public keys), `null` back to the server
 * default, `[]` off; GET shows the upstreams in effect. Runs on every database kind.
 */
import { generateSecretKey, parseSecretKey } from "@garret/nix";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../../../../test/support/app.ts";
import { describeEachDb } from "../../../../test/support/postgres.ts";
import { createPullThrough, DEFAULT_UPSTREAM_POLICY } from "../services/upstream/pull-through.ts";

const KEY = parseSecretKey(generateSecretKey("upstream-1")).publicKey;
const DEFAULTS = [{ url: "https://cache.nixos.org", trustedKeys: [KEY] }];

describeEachDb("cache-config garret_upstreams", (getDb) => {
  let t: TestApp;
  let configurer: string;
  let reader: string;

  beforeAll(async () => {
    t = await createTestApp({ db: getDb() });
    t.deps.upstream = createPullThrough(t.deps, { ...DEFAULT_UPSTREAM_POLICY, defaults: DEFAULTS });
    await t.createCache("up");
    configurer = await t.mintToken("configurer", { up: ["r", "cr"] });
    reader = await t.mintToken("reader", { up: ["r"] });
  });
  afterAll(() => t?.close());

  const upstreamsOf = async (cache: string) => {
    const res = await t.request(`/_api/v1/cache-config/${cache}`, { token: reader });
    expect(res.status).toBe(200);
    return ((await res.json()) as { garret_upstreams: unknown }).garret_upstreams;
  };
  const patch = (body: unknown, token = configurer) =>
    t.request("/_api/v1/cache-config/up", {
      method: "PATCH",
      token,
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });

  it("shows the server default until the cache has its own, and returns to it with null", async () => {
    expect(await upstreamsOf("up")).toEqual([{ url: "https://cache.nixos.org", trusted_keys: [KEY] }]);
    const own = [{ url: "http://10.0.0.5:8080/nixpkgs", trusted_keys: [KEY] }];
    expect((await patch({ garret_upstreams: own })).status).toBe(200);
    expect(await upstreamsOf("up")).toEqual(own);
    expect((await patch({ garret_upstreams: [] })).status).toBe(200);
    expect(await upstreamsOf("up")).toEqual([]);
    expect((await patch({ garret_upstreams: null })).status).toBe(200);
    expect(await upstreamsOf("up")).toEqual([{ url: "https://cache.nixos.org", trusted_keys: [KEY] }]);
  });

  it("needs cr, and refuses bad URLs and keys without changing anything", async () => {
    const before = await upstreamsOf("up");
    const good = [{ url: "https://example.com", trusted_keys: [KEY] }];
    expect((await patch({ garret_upstreams: good }, reader)).status).toBe(403);
    for (const bad of [
      [{ url: "ftp://example.com", trusted_keys: [KEY] }],
      [{ url: "https://example.com", trusted_keys: [] }],
      [{ url: "https://example.com", trusted_keys: ["upstream-1:not-base64"] }],
      [{ url: "https://example.com" }],
    ]) {
      const res = await patch({ garret_upstreams: bad });
      expect(res.status, JSON.stringify(bad)).toBe(400);
    }
    expect(await upstreamsOf("up")).toEqual(before);
  });

  it("sets upstreams on create", async () => {
    const own = [{ url: "https://cache.example.org/", trusted_keys: [KEY] }];
    const res = await t.request("/_api/v1/cache-config/created", {
      method: "POST",
      token: t.rootToken,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        keypair: "Generate",
        is_public: false,
        store_dir: "/nix/store",
        priority: 41,
        upstream_cache_key_names: [],
        garret_upstreams: own,
      }),
    });
    expect(res.status, await res.text()).toBe(200);
    expect(
      await (await t.request("/_api/v1/cache-config/created", { token: t.rootToken })).json(),
    ).toMatchObject({
      garret_upstreams: own,
    });
  });
});
