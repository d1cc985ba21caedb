/**
 * GC racing uploads, on SQLite and (with GARRET_TEST_POSTGRES_URL) on a real Postgres with a
 * connection pool: many rounds of collections interleaved with uploads that share chunks across
 * caches, put the same path into several caches, and fail halfway. Afterwards every object any
 * cache lists downloads and verifies, and storage holds exactly the chunks that listed objects use.
 * Also: only one collector runs at a time.
 */
import { createHash } from "node:crypto";
import type { Db } from "@garret/db";
import type { StorageBackend } from "@garret/storage";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestApp, SMALL_CHUNKING, type TestApp } from "../../../../test/support/app.ts";
import { downloadNar, gc, narOf, setRetention, storedFiles, uploadNar } from "../../../../test/support/gc.ts";
import { lcgBytes, randomStorePathHash } from "../../../../test/support/nar.ts";
import { describeEachDb } from "../../../../test/support/postgres.ts";
import { silentLogger } from "../log.ts";
import { runGarbageCollection } from "./run-gc.ts";

const ROUNDS = 8;
/** Blocks NARs are assembled from, so that different NARs share content-defined chunks. */
const BLOCKS = Array.from({ length: 6 }, (_, i) => lcgBytes(12_000, 100 + i));

function narFrom(seed: number): Buffer {
  const parts = [
    BLOCKS[seed % BLOCKS.length],
    BLOCKS[(seed * 7 + 3) % BLOCKS.length],
    lcgBytes(3_000, 1000 + seed),
  ];
  return narOf(Buffer.concat(parts as Buffer[]));
}

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

describeEachDb("GC concurrent with uploads", (getDb) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({
      db: getDb(),
      settings: { chunking: SMALL_CHUNKING },
    });
    for (const name of ["keep", "keep2", "short"]) await t.createCache(name);
    await setRetention(t, "keep", 0);
    await setRetention(t, "keep2", 0);
    await setRetention(t, "short", 1);
  });
  afterAll(() => t.close());

  it("never loses data a finished upload references, and leaves no garbage behind", async () => {
    const expected = new Map<string, Buffer>();
    const kept: Array<{ cache: string; hash: string }> = [];
    let seed = 0;
    const deletedDuringRounds = { objects: 0, chunks: 0 };
    // A clock a few seconds ahead expires everything in "short" (retention 1 s), uploads included
    // that are still running, yet stays well inside the grace period of their pending rows.
    const later = () => new Date(Date.now() + 5_000);

    for (let round = 0; round < ROUNDS; round++) {
      const uploads: Array<Promise<unknown>> = [];
      for (let i = 0; i < 3; i++) {
        const nar = narFrom(seed++);
        const hash = randomStorePathHash();
        expected.set(hash, nar);
        // The same path into the expiring cache and a kept one, racing each other.
        uploads.push(uploadNar(t, { cache: "short", hash, nar }));
        uploads.push(
          uploadNar(t, { cache: i === 0 ? "keep2" : "keep", hash, nar }).then((u) => {
            expect(u.status).toBe(200);
            kept.push({ cache: u.cache, hash });
          }),
        );
      }
      // Big enough that chunks are stored before the failure is noticed.
      const bad = narOf(Buffer.concat([narFrom(seed++), lcgBytes(400_000, 5000 + seed)]));
      const corrupt = Buffer.from(bad);
      corrupt.write("broken", bad.length - 100);
      uploads.push(
        uploadNar(t, { cache: "keep", nar: bad, body: corrupt }).then((u) => expect(u.status).toBe(400)),
      );
      uploads.push(
        uploadNar(t, { cache: "short", nar: narFrom(seed++), body: bad.subarray(0, bad.length / 2) }).then(
          (u) => expect(u.status).toBe(400),
        ),
      );
      const collect = () =>
        gc(t, { now: later() }).then((g) => {
          deletedDuringRounds.objects += g.objects;
          deletedDuringRounds.chunks += g.chunks;
        });
      uploads.push(collect(), collect());
      await Promise.all(uploads);
    }

    // The collections really raced the uploads: they deleted objects and chunks mid-way.
    expect(deletedDuringRounds.objects).toBeGreaterThan(0);
    expect(deletedDuringRounds.chunks).toBeGreaterThan(0);
    await gc(t, { now: later() });
    await gc(t, { now: later() });

    const listed = await t.db.withSession((s) =>
      s.query<{ cache: string; hash: string }>(
        "SELECT c.name AS cache, o.store_path_hash AS hash FROM object o JOIN cache c ON c.id = o.cache_id",
      ),
    );
    expect(listed.map((r) => r.cache).every((c) => c !== "short")).toBe(true);
    expect(listed.length).toBe(kept.length);
    for (const { cache, hash } of listed) {
      const got = await downloadNar(t, cache, hash);
      expect(Buffer.isBuffer(got), `${cache}/${hash}`).toBe(true);
      expect(sha256(got as Buffer)).toBe(sha256(expected.get(hash) as Buffer));
    }

    const used = await t.db.withSession((s) =>
      s.query<{ remote_file_id: string }>(
        `SELECT DISTINCT c.remote_file_id FROM object o JOIN chunkref r ON r.nar_id = o.nar_id
         JOIN chunk c ON c.id = r.chunk_id`,
      ),
    );
    const usedFiles = used.map((r) => r.remote_file_id.slice(r.remote_file_id.lastIndexOf(":") + 1)).sort();
    expect(await storedFiles(t.storageDir)).toEqual(usedFiles);
    const rows = await t.db.withSession((s) =>
      s.query<{ chunks: number; nars: number }>(
        "SELECT (SELECT count(*) FROM chunk) AS chunks, (SELECT count(*) FROM nar) AS nars",
      ),
    );
    expect(rows[0]?.chunks).toBe(usedFiles.length);
    const narsUsed = await t.db.withSession((s) =>
      s.query<{ n: number }>("SELECT count(DISTINCT nar_id) AS n FROM object"),
    );
    expect(rows[0]?.nars).toBe(narsUsed[0]?.n);
  });

  it("runs one collector at a time: on Postgres a second one skips, on SQLite it waits", async () => {
    const db: Db = getDb();
    await uploadNar(t, { cache: "short", nar: narOf(lcgBytes(20_000, 77)) });
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let entered = () => {};
    const deleting = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const slow: StorageBackend = Object.create(t.storage, {
      delete: {
        value: async (file: Parameters<StorageBackend["delete"]>[0]) => {
          entered();
          await gate;
          return t.storage.delete(file);
        },
      },
    });
    const opts = { defaultRetentionSeconds: 0, pendingGraceSeconds: 3600, now: new Date(Date.now() + 5_000) };
    const first = runGarbageCollection(db, slow, silentLogger(), opts);
    await deleting;
    const second = runGarbageCollection(db, t.storage, silentLogger(), opts);
    if (db.kind === "postgres") {
      expect(await second).toMatchObject({ ran: false, objects: 0 });
      release();
      expect(await first).toMatchObject({ ran: true, objects: 1 });
    } else {
      let secondDone = false;
      void second.then(() => {
        secondDone = true;
      });
      await new Promise((resolve) => setImmediate(resolve));
      expect(secondDone).toBe(false);
      release();
      expect(await first).toMatchObject({ ran: true, objects: 1 });
      expect(await second).toMatchObject({ ran: true, objects: 0 });
    }
  });
});
