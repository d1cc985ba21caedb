/**
 * Closure-aware retention and pins: an expired path that a kept path (or a live pin) reaches
 * through references in the same cache stays, so the cache never serves a narinfo whose
 * references it dropped. Caches without garret's setting row (adopted from atticd) expire by age only.
 * Runs on every database kind.
 */
import { beforeEach, describe, expect, it } from "vitest";
import type { TestApp } from "../../../../test/support/app.ts";
import {
  age,
  DAY,
  downloadNar,
  gc,
  narinfoStatus,
  narOf,
  setRetention,
  type Uploaded,
  uploadNar,
  useGcApp,
} from "../../../../test/support/gc.ts";
import { lcgBytes } from "../../../../test/support/nar.ts";
import { describeEachDb } from "../../../../test/support/postgres.ts";

describeEachDb("closure-aware retention", (getDb) => {
  let t: TestApp;
  const app = useGcApp(getDb);

  beforeEach(async () => {
    t = app();
    await setRetention(t, "a", DAY);
    await setRetention(t, "b", DAY);
  });

  /** dep ← mid ← top, all in `cache`. */
  async function chain(cache: string): Promise<{ dep: Uploaded; mid: Uploaded; top: Uploaded }> {
    const dep = await uploadNar(t, { cache, name: "dep", nar: narOf(lcgBytes(20_000, 21)) });
    const mid = await uploadNar(t, { cache, name: "mid", nar: narOf("mid"), references: [dep.base] });
    const top = await uploadNar(t, {
      cache,
      name: "top",
      nar: narOf("top"),
      references: [mid.base, `${"0".repeat(32)}-elsewhere`],
    });
    return { dep, mid, top };
  }

  async function setClosure(cache: string, on: boolean): Promise<number> {
    const res = await t.request(`/_api/v1/cache-config/${cache}`, {
      method: "PATCH",
      token: t.rootToken,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ garret_closure_retention: on }),
    });
    return res.status;
  }

  async function pin(cache: string, name: string, paths: string[], expiresAt?: Date): Promise<number> {
    const res = await t.request(`/_api/v1/caches/${cache}/pins/${name}`, {
      method: "PUT",
      token: t.rootToken,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ store_paths: paths, expires_at: expiresAt?.toISOString() ?? null }),
    });
    await res.arrayBuffer();
    return res.status;
  }

  describe("closure-aware retention", () => {
    it("a kept path keeps its expired references, transitively", async () => {
      const { dep, mid, top } = await chain("a");
      await age(t, "a", dep.hash, 3 * DAY);
      await age(t, "a", mid.hash, 3 * DAY);
      expect((await gc(t)).objects).toBe(0);
      for (const p of [dep, mid, top]) expect(await narinfoStatus(t, "a", p.hash)).toBe(200);
      expect(await downloadNar(t, "a", dep.hash)).toEqual(dep.nar);

      await age(t, "a", top.hash, 3 * DAY);
      expect((await gc(t)).objects).toBe(3);
      for (const p of [dep, mid, top]) expect(await narinfoStatus(t, "a", p.hash)).toBe(404);
    });

    it("is on for caches garret creates; without it (atticd caches) paths expire by age alone", async () => {
      const cfg = await t.request("/_api/v1/cache-config/a", { token: t.rootToken });
      expect(await cfg.json()).toMatchObject({ garret_closure_retention: true });
      await t.db.withSession((s) =>
        s.query("DELETE FROM garret_cache_settings WHERE cache_id = (SELECT id FROM cache WHERE name = 'b')"),
      );
      const adopted = await t.request("/_api/v1/cache-config/b", { token: t.rootToken });
      expect(await adopted.json()).toMatchObject({ garret_closure_retention: false });

      const { dep, top } = await chain("b");
      await age(t, "b", dep.hash, 3 * DAY);
      expect((await gc(t)).objects).toBe(1);
      expect(await narinfoStatus(t, "b", dep.hash)).toBe(404);
      expect(await narinfoStatus(t, "b", top.hash)).toBe(200);
    });

    it("can be turned off and on with PATCH (needs cq)", async () => {
      const limited = await t.mintToken("limited", { a: ["r", "cr"] });
      const denied = await t.request("/_api/v1/cache-config/a", {
        method: "PATCH",
        token: limited,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ garret_closure_retention: false }),
      });
      expect(denied.status).toBe(403);
      expect(await setClosure("a", false)).toBe(200);
      const { dep } = await chain("a");
      await age(t, "a", dep.hash, 3 * DAY);
      expect(await gc(t, { dryRun: true })).toMatchObject({ objects: 1 });
      expect(await setClosure("a", true)).toBe(200);
      expect(await gc(t, { dryRun: true })).toMatchObject({ objects: 0 });
    });

    it("references only protect within the same cache", async () => {
      const dep = await uploadNar(t, { cache: "a", name: "dep", nar: narOf("dep in a") });
      await uploadNar(t, { cache: "b", name: "top", nar: narOf("top in b"), references: [dep.base] });
      await age(t, "a", dep.hash, 3 * DAY);
      expect((await gc(t)).objects).toBe(1);
      expect(await narinfoStatus(t, "a", dep.hash)).toBe(404);
    });
  });

  describe("pins", () => {
    it("keep pinned paths and their closure until the pin expires", async () => {
      const { dep, mid, top } = await chain("a");
      const other = await uploadNar(t, { cache: "a", name: "other", nar: narOf("unpinned") });
      for (const p of [dep, mid, top, other]) await age(t, "a", p.hash, 3 * DAY);
      const expiry = new Date(Date.now() + 5 * DAY * 1000);
      expect(await pin("a", "release", [top.storePath], expiry)).toBe(200);

      expect((await gc(t)).objects).toBe(1);
      for (const p of [dep, mid, top]) expect(await narinfoStatus(t, "a", p.hash)).toBe(200);
      expect(await narinfoStatus(t, "a", other.hash)).toBe(404);

      const afterExpiry = await gc(t, { now: new Date(expiry.getTime() + 1000) });
      expect(afterExpiry.objects).toBe(3);
      for (const p of [dep, mid, top]) expect(await narinfoStatus(t, "a", p.hash)).toBe(404);
    });

    it("protect the closure even in caches without closure retention, and stop when deleted", async () => {
      expect(await setClosure("a", false)).toBe(200);
      const { dep, mid, top } = await chain("a");
      for (const p of [dep, mid, top]) await age(t, "a", p.hash, 3 * DAY);
      expect(await pin("a", "keep", [mid.storePath])).toBe(200);
      expect((await gc(t)).objects).toBe(1);
      expect(await narinfoStatus(t, "a", top.hash)).toBe(404);
      expect(await narinfoStatus(t, "a", dep.hash)).toBe(200);
      expect(await downloadNar(t, "a", dep.hash)).toEqual(dep.nar);

      const del = await t.request("/_api/v1/caches/a/pins/keep", { method: "DELETE", token: t.rootToken });
      expect(del.status).toBe(200);
      expect((await gc(t)).objects).toBe(2);
    });
  });
});
