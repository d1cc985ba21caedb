/** Cache queries on both databases: lookup, name conflicts (soft-deleted names stay taken), updates, deletion. */
import { expect, it } from "vitest";
import {
  createTestCache,
  createValidNar,
  randomHex,
  randomStorePathHash,
} from "../../../../test/support/db-rows.ts";
import { describeEachDb } from "../../../../test/support/postgres.ts";
import { deleteCache, findCache, insertCache, updateCache } from "./caches.ts";
import { findObjectWithNar, upsertObject } from "./objects.ts";

const newCache = (name: string) => ({
  name,
  keypair: `${name}:secret`,
  isPublic: true,
  storeDir: "/nix/store",
  priority: 40,
  upstreamCacheKeyNames: ["cache.nixos.org-1", "other-1"],
});

describeEachDb("cache queries", (getDb) => {
  it("inserts and finds a cache, parsing the JSON columns", async () => {
    const name = `c-${randomHex(4)}`;
    expect(await insertCache(getDb(), newCache(name))).toBe(true);
    const row = await findCache(getDb(), name);
    expect(row).toMatchObject({
      name,
      keypair: `${name}:secret`,
      isPublic: true,
      priority: 40,
      upstreamCacheKeyNames: ["cache.nixos.org-1", "other-1"],
      deletedAt: null,
      retentionPeriod: null,
    });
    expect(typeof row?.id).toBe("number");
    expect(row?.createdAt).toBeInstanceOf(Date);
    expect(Math.abs(Date.now() - (row?.createdAt.getTime() ?? 0))).toBeLessThan(60_000);
    expect(await findCache(getDb(), `${name}-missing`)).toBeNull();
  });

  it("stores upstream key names as atticd's JSON text", async () => {
    const cache = await createTestCache(getDb());
    const [raw] = await getDb().withSession((s) =>
      s.query<{ u: string }>("SELECT upstream_cache_key_names AS u FROM cache WHERE id = $1", [cache.id]),
    );
    expect(raw?.u).toBe('["cache.nixos.org-1"]');
  });

  it("reports a name conflict, also against a soft-deleted cache", async () => {
    const cache = await createTestCache(getDb());
    expect(await insertCache(getDb(), newCache(cache.name))).toBe(false);
    expect(await deleteCache(getDb(), cache.id, true)).toBe(true);
    expect(await findCache(getDb(), cache.name)).toBeNull();
    expect(await insertCache(getDb(), newCache(cache.name))).toBe(false);
    expect(await deleteCache(getDb(), cache.id, true)).toBe(false);
    expect(await deleteCache(getDb(), cache.id, false)).toBe(false);
  });

  it("updates only the given fields of a live cache", async () => {
    const cache = await createTestCache(getDb());
    expect(await updateCache(getDb(), cache.id, { isPublic: true, retentionPeriod: 3600 })).toBe(true);
    expect(await findCache(getDb(), cache.name)).toMatchObject({
      isPublic: true,
      retentionPeriod: 3600,
      priority: cache.priority,
      keypair: cache.keypair,
    });
    expect(await updateCache(getDb(), cache.id, { retentionPeriod: null, upstreamCacheKeyNames: [] })).toBe(
      true,
    );
    expect(await findCache(getDb(), cache.name)).toMatchObject({
      retentionPeriod: null,
      upstreamCacheKeyNames: [],
    });
    await expect(updateCache(getDb(), cache.id, {})).rejects.toThrow(/nothing to update/);
    await deleteCache(getDb(), cache.id, true);
    expect(await updateCache(getDb(), cache.id, { priority: 1 })).toBe(false);
  });

  it("hard deletion cascades to the cache's objects and frees the name", async () => {
    const cache = await createTestCache(getDb());
    const { nar } = await createValidNar(getDb());
    const hash = randomStorePathHash();
    await upsertObject(getDb(), {
      cacheId: cache.id,
      narId: nar.id,
      storePathHash: hash,
      storePath: `/nix/store/${hash}-x`,
      references: [],
      deriver: null,
      sigs: [],
      ca: null,
      createdBy: null,
    });
    expect(await findObjectWithNar(getDb(), cache.id, hash)).not.toBeNull();
    expect(await deleteCache(getDb(), cache.id, false)).toBe(true);
    expect(await findObjectWithNar(getDb(), cache.id, hash)).toBeNull();
    const [left] = await getDb().withSession((s) =>
      s.query<{ n: number }>("SELECT count(*) AS n FROM object WHERE cache_id = $1", [cache.id]),
    );
    expect(left?.n).toBe(0);
    expect(await insertCache(getDb(), newCache(cache.name))).toBe(true);
  });
});
