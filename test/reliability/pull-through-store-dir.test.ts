/**
 * Pulled-through paths belong to the cache's store directory, against the real process (embedded
 * database and Postgres): two caches share one upstream that signs paths in `/nix/store` and in
 * `/gnu/store`; each cache serves and stores the upstream's paths of its own `store_dir` only. A
 * path of the other directory is a 404 (narinfo and NAR), stays missing, is never fetched, and the
 * rejection is logged.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeUpstream, startFakeUpstream } from "../support/fake-upstream.ts";
import { type DbKind, type GarretdHandle, startGarretd } from "../support/garretd.ts";
import { lcgBytes, narOfFile } from "../support/nar.ts";
import { postgresTestUrl } from "../support/postgres.ts";

const dbs: DbKind[] = postgresTestUrl() ? ["sqlite", "postgres"] : ["sqlite"];

describe.each(dbs)("pull-through keeps to the cache's store_dir [%s]", (db) => {
  let g: GarretdHandle;
  let upstream: FakeUpstream;
  beforeAll(async () => {
    upstream = await startFakeUpstream();
    g = await startGarretd({
      db,
      extraToml: '[garret.upstream]\nnarinfo-timeout = "3s"\nnegative-ttl = "0s"\n',
    });
    for (const [name, storeDir] of [
      ["nixstore", "/nix/store"],
      ["gnustore", "/gnu/store"],
    ]) {
      const created = await api("POST", `/_api/v1/cache-config/${name}`, {
        keypair: "Generate",
        is_public: false,
        store_dir: storeDir,
        priority: 41,
        upstream_cache_key_names: [],
      });
      expect(created.status, created.text).toBe(200);
      const configured = await api("PATCH", `/_api/v1/cache-config/${name}`, {
        garret_upstreams: [{ url: upstream.url, trusted_keys: [upstream.publicKey] }],
      });
      expect(configured.status, configured.text).toBe(200);
    }
  }, 120_000);
  afterAll(async () => {
    await g?.stop();
    await upstream?.close();
  });

  async function api(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; text: string }> {
    const res = await fetch(`${g.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${g.rootToken}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, text: await res.text() };
  }

  async function missing(cache: string, hash: string): Promise<boolean> {
    const res = await api("POST", "/_api/v1/get-missing-paths", { cache, store_path_hashes: [hash] });
    expect(res.status).toBe(200);
    return (JSON.parse(res.text) as { missing_paths: string[] }).missing_paths.includes(hash);
  }

  it("a cache serves the upstream's paths of its own store directory", async () => {
    const hash = upstream.addPath({ nar: narOfFile(lcgBytes(2000, 1)) });
    const info = await api("GET", `/nixstore/${hash}.narinfo`);
    expect(info.status, info.text).toBe(200);
    expect(info.text).toContain(`StorePath: /nix/store/${hash}-pulled`);
    expect((await api("GET", `/nixstore/nar/${hash}.nar`)).status).toBe(200);
  });

  it.each([
    ["gnustore", "/nix/store"],
    ["nixstore", "/gnu/store"],
  ])("%s refuses an upstream path in %s: 404, nothing fetched or stored", async (cache, storeDir) => {
    const hash = upstream.addPath({ nar: narOfFile(lcgBytes(2000, 2)), storeDir });
    expect((await api("GET", `/${cache}/${hash}.narinfo`)).status).toBe(404);
    expect((await api("GET", `/${cache}/nar/${hash}.nar`)).status).toBe(404);
    expect(upstream.narInfoRequests.get(hash)).toBeGreaterThan(0);
    expect(upstream.narRequests.get(hash)).toBeUndefined();
    expect(await missing(cache, hash)).toBe(true);
    expect(g.logs()).toMatch(new RegExp(`"msg":"upstream narinfo rejected".*"storePathHash":"${hash}"`));
  });
});
