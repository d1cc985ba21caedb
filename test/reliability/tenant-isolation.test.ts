/**
 * Multi-tenant hardening (issue 14, part A), each threat tried through HTTP against the real
 * garretd process, on the embedded database and on Postgres when GARRET_TEST_POSTGRES_URL is set:
 *
 *   - cache-name patterns that would make a backtracking matcher run for minutes are answered at
 *     once, and correctly.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCacheOver } from "../support/cache-api.ts";
import { type DbKind, type GarretdHandle, startGarretd } from "../support/garretd.ts";
import { postgresTestUrl } from "../support/postgres.ts";

const dbs: DbKind[] = postgresTestUrl() ? ["pglite", "postgres"] : ["pglite"];

describe.each(dbs)("tenant isolation (%s)", (db) => {
  let g: GarretdHandle;
  beforeAll(async () => {
    g = await startGarretd({ db });
  });
  afterAll(() => g?.stop());

  const get = (path: string, token?: string) =>
    fetch(`${g.url}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});

  describe("pattern matching is linear", () => {
    // 50 characters, the longest name; none of the hostile patterns below matches it.
    const miss = `team-${"a".repeat(45)}`;
    const hit = `team-${"a".repeat(44)}b`;
    beforeAll(async () => {
      await createCacheOver(g.url, g.rootToken, miss);
      await createCacheOver(g.url, g.rootToken, hit);
    });

    it.each([
      ["the issue's pattern", "team-*a*a*a*a*a*a*a*b"],
      ["twenty stars", `team-${"*a".repeat(20)}*b`],
    ])("%s resolves grants at once and correctly", { timeout: 30_000 }, async (_, pattern) => {
      const token = await g.mintToken("globber", { [pattern]: ["r"] });
      const denied = await Promise.all([1, 2, 3].map(() => get(`/${miss}/nix-cache-info`, token)));
      for (const res of denied) expect(res.status).toBe(401);
      const allowed = await get(`/${hit}/nix-cache-info`, token);
      expect(allowed.status).toBe(200);
      expect(await allowed.text()).toContain("StoreDir: /nix/store");
      expect((await get("/healthz")).status).toBe(200);
    });
  });
});
