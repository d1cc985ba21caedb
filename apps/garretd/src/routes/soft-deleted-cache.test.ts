/**
 * A soft-deleted cache seen through Nix's binary cache interface: its narinfo and NAR requests
 * answer atticd's 404 `NoSuchObject`, as for any missing object, to callers who could see the cache
 * (a token granting it, or anyone when it was public); others and never-created caches are
 * unchanged. Runs on every database kind.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../../../../test/support/app.ts";
import { describeEachDb } from "../../../../test/support/postgres.ts";

const HASH = "nm1w9sdm6j6icmhd2q3260hl1w9zj6li";

describeEachDb("soft-deleted caches", (getDb) => {
  let t: TestApp;
  let reader: string;
  beforeAll(async () => {
    t = await createTestApp({ db: getDb(), settings: { softDeleteCaches: true } });
    await t.createCache("gone-public", { isPublic: true });
    await t.createCache("gone-private");
    reader = await t.mintToken("reader", { "gone-*": ["r"], "never-made": ["r"] });
    for (const name of ["gone-public", "gone-private"]) {
      const res = await t.request(`/_api/v1/cache-config/${name}`, { method: "DELETE", token: t.rootToken });
      expect(res.status).toBe(200);
    }
  });
  afterAll(() => t?.close());

  const errorOf = async (path: string, token: string | null) => {
    const res = await t.request(path, { token });
    return { status: res.status, error: ((await res.json()) as { error: string }).error };
  };

  it("answers 404 NoSuchObject for narinfo and NAR to callers who could see the cache", async () => {
    const noSuchObject = { status: 404, error: "NoSuchObject" };
    for (const cache of ["gone-public", "gone-private"]) {
      expect(await errorOf(`/${cache}/${HASH}.narinfo`, reader)).toEqual(noSuchObject);
      expect(await errorOf(`/${cache}/nar/${HASH}.nar`, reader)).toEqual(noSuchObject);
    }
    expect(await errorOf(`/gone-public/${HASH}.narinfo`, null)).toEqual(noSuchObject);
    expect(await errorOf(`/gone-public/nar/${HASH}.nar`, null)).toEqual(noSuchObject);
  });

  it("keeps a deleted private cache hidden from others, and a never-created cache NoSuchCache", async () => {
    expect((await errorOf(`/gone-private/${HASH}.narinfo`, null)).status).toBe(401);
    expect(await errorOf(`/never-made/${HASH}.narinfo`, reader)).toEqual({
      status: 404,
      error: "NoSuchCache",
    });
    expect(await errorOf("/_api/v1/cache-config/gone-private", reader)).toEqual({
      status: 404,
      error: "NoSuchCache",
    });
  });
});
