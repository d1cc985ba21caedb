/**
 * garret's cache API extensions: pins (`cr`), statistics (`r`), deleting a path (`d`) and the
 * `garret_closure_retention` field of cache-config, with their permission checks, on every database kind.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, SMALL_CHUNKING, type TestApp } from "../../../../test/support/app.ts";
import {
  downloadNar,
  gc,
  narinfoStatus,
  narOf,
  storedFiles,
  uploadNar,
} from "../../../../test/support/gc.ts";
import { lcgBytes, randomStorePathHash } from "../../../../test/support/nar.ts";
import { describeEachDb } from "../../../../test/support/postgres.ts";

describeEachDb("garret's cache extensions", (getDb) => {
  let t: TestApp;
  let reader: string;
  let admin: string;

  beforeAll(async () => {
    t = await createTestApp({
      db: getDb(),
      settings: { chunking: SMALL_CHUNKING },
    });
    await t.createCache("ext");
    await t.createCache("ext2");
    reader = await t.mintToken("reader", { ext: ["r", "w"] });
    admin = await t.mintToken("admin", { ext: ["r", "cr", "cq"] });
  });
  afterAll(() => t.close());

  async function call(method: string, path: string, token: string | null, body?: unknown) {
    const res = await t.request(path, {
      method,
      token,
      ...(body !== undefined && {
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      }),
    });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : null };
  }

  describe("pins", () => {
    const path = `/nix/store/${randomStorePathHash()}-hello-2.12`;

    it("PUT creates, GET shows, list lists, PUT replaces, DELETE removes", async () => {
      const put = await call("PUT", "/_api/v1/caches/ext/pins/release", admin, {
        store_paths: [path, path],
        expires_at: "2030-01-01T00:00:00Z",
      });
      expect(put.status).toBe(200);
      expect(put.json).toMatchObject({
        name: "release",
        store_paths: [path],
        expires_at: "2030-01-01T00:00:00.000Z",
        created_by: "admin",
      });
      expect((await call("GET", "/_api/v1/caches/ext/pins/release", admin)).json).toEqual(put.json);

      const replaced = await call("PUT", "/_api/v1/caches/ext/pins/release", t.rootToken, {
        store_paths: [path],
      });
      expect(replaced.json).toMatchObject({
        expires_at: null,
        created_by: "admin",
        created_at: put.json?.created_at,
      });
      await call("PUT", "/_api/v1/caches/ext/pins/a-second.pin_1", admin, { store_paths: [path] });
      const list = await call("GET", "/_api/v1/caches/ext/pins", admin);
      expect((list.json?.pins as Array<{ name: string }>).map((p) => p.name)).toEqual([
        "a-second.pin_1",
        "release",
      ]);

      expect((await call("DELETE", "/_api/v1/caches/ext/pins/release", admin)).status).toBe(200);
      expect((await call("GET", "/_api/v1/caches/ext/pins/release", admin)).status).toBe(404);
      expect((await call("DELETE", "/_api/v1/caches/ext/pins/release", admin)).status).toBe(404);
    });

    it("need cr: 403 with r and w only, 401 anonymously, 404 for a missing cache", async () => {
      expect((await call("GET", "/_api/v1/caches/ext/pins", reader)).status).toBe(403);
      expect((await call("PUT", "/_api/v1/caches/ext/pins/x", reader, { store_paths: [path] })).status).toBe(
        403,
      );
      expect((await call("GET", "/_api/v1/caches/ext/pins", null)).status).toBe(401);
      expect((await call("GET", "/_api/v1/caches/nope/pins", t.rootToken)).json).toMatchObject({
        error: "NoSuchCache",
      });
    });

    it.each([
      ["no paths", { store_paths: [] }],
      ["a relative path", { store_paths: ["hello"] }],
      ["a malformed store path", { store_paths: ["/nix/store/not-a-hash"] }],
      ["a bad expiry", { store_paths: [path], expires_at: "tomorrow" }],
    ])("reject %s with 400", async (_name, body) => {
      expect((await call("PUT", "/_api/v1/caches/ext/pins/bad", admin, body)).status).toBe(400);
    });

    it("reject a bad pin name with 400", async () => {
      expect(
        (await call("PUT", "/_api/v1/caches/ext/pins/.hidden", admin, { store_paths: [path] })).status,
      ).toBe(400);
    });
  });

  describe("stats", () => {
    it("count objects, NAR bytes, deduplicated stored bytes and the last GC", async () => {
      await t.createCache("stats");
      const empty = await call("GET", "/_api/v1/caches/stats/stats", t.rootToken);
      expect(empty.json).toMatchObject({
        objects: 0,
        nar_bytes: 0,
        chunks: 0,
        stored_bytes: 0,
        closure_retention: true,
      });

      const nar = narOf(lcgBytes(40_000, 31));
      await uploadNar(t, { cache: "stats", nar });
      await uploadNar(t, { cache: "stats", nar });
      await gc(t);
      const stats = await call("GET", "/_api/v1/caches/stats/stats", t.rootToken);
      const chunks = await t.db.withSession((s) =>
        s.query<{ n: number; bytes: number }>(
          `SELECT CAST(count(*) AS integer) AS n, CAST(sum(file_size) AS bigint) AS bytes FROM chunk WHERE id IN (
             SELECT r.chunk_id FROM object o JOIN chunkref r ON r.nar_id = o.nar_id
             JOIN cache c ON c.id = o.cache_id WHERE c.name = 'stats')`,
        ),
      );
      expect(stats.json).toMatchObject({
        objects: 2,
        nar_bytes: 2 * nar.length,
        chunks: chunks[0]?.n,
        stored_bytes: Number(chunks[0]?.bytes),
        pins: 0,
      });
      expect(Number(stats.json?.stored_bytes)).toBeLessThan(nar.length + 1024);
      expect(stats.json?.last_gc).toMatchObject({ objects: 0 });
      expect(
        Date.parse(String((stats.json?.last_gc as Record<string, unknown>).finished_at)),
      ).toBeGreaterThan(0);
    });

    it("need r", async () => {
      const other = await t.mintToken("other", { ext2: ["r"] });
      expect((await call("GET", "/_api/v1/caches/ext/stats", other)).status).toBe(401);
      expect((await call("GET", "/_api/v1/caches/ext/stats", admin)).status).toBe(200);
    });
  });

  describe("DELETE /{cache}/{hash}.narinfo", () => {
    it("needs d, removes the path at once and its data at the next GC unless shared", async () => {
      const shared = narOf(lcgBytes(30_000, 41));
      const own = narOf(lcgBytes(30_000, 42));
      const x = await uploadNar(t, { cache: "ext", nar: shared });
      const y = await uploadNar(t, { cache: "ext2", nar: shared });
      const z = await uploadNar(t, { cache: "ext", nar: own });
      await gc(t);

      const rw = await t.mintToken("rw", { ext: ["r", "w", "cc", "cr", "cq", "cd"] });
      expect((await t.request(`/ext/${x.hash}.narinfo`, { method: "DELETE", token: rw })).status).toBe(403);
      const deleter = await t.mintToken("deleter", { ext: ["r", "d"] });
      expect((await t.request(`/ext/${x.hash}.narinfo`, { method: "DELETE", token: deleter })).status).toBe(
        200,
      );
      expect((await t.request(`/ext/${z.hash}.narinfo`, { method: "DELETE", token: deleter })).status).toBe(
        200,
      );
      expect(await narinfoStatus(t, "ext", x.hash)).toBe(404);
      const again = await call("DELETE", `/ext/${x.hash}.narinfo`, deleter);
      expect(again).toMatchObject({ status: 404, json: { error: "NoSuchObject" } });
      expect((await call("DELETE", "/ext/nar-not-a-hash.narinfo", deleter)).status).toBe(400);

      const before = (await storedFiles(t.storageDir)).length;
      const summary = await gc(t);
      expect(summary).toMatchObject({ objects: 0, nars: 1 });
      expect((await storedFiles(t.storageDir)).length).toBe(before - summary.chunks);
      expect(await downloadNar(t, "ext2", y.hash)).toEqual(shared);
    });
  });

  describe("cache-config garret_closure_retention", () => {
    it("is set on create (default true) and returned by GET", async () => {
      const res = await t.request("/_api/v1/cache-config/noclosure", {
        method: "POST",
        token: t.rootToken,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          keypair: "Generate",
          is_public: false,
          store_dir: "/nix/store",
          priority: 41,
          upstream_cache_key_names: [],
          garret_closure_retention: false,
        }),
      });
      expect(res.status).toBe(200);
      expect((await call("GET", "/_api/v1/cache-config/noclosure", t.rootToken)).json).toMatchObject({
        garret_closure_retention: false,
      });
      expect((await call("GET", "/_api/v1/cache-config/ext", t.rootToken)).json).toMatchObject({
        garret_closure_retention: true,
      });
      const bad = await call("PATCH", "/_api/v1/cache-config/ext", t.rootToken, {
        garret_closure_retention: "yes",
      });
      expect(bad.status).toBe(400);
    });
  });
});
