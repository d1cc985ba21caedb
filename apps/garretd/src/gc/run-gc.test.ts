/**
 * One GC run against an in-process garretd (local storage, every database kind), with the clock injected
 * through `GcOptions.now`: atticd's retention rules, the cleanup of NARs and chunks no object
 * needs any more, leases, stale pending rows, retried storage deletions and dry runs.
 */
import type { parseRemoteFile, StorageBackend } from "@garret/storage";
import { beforeEach, describe, expect, it } from "vitest";
import type { TestApp } from "../../../../test/support/app.ts";
import {
  age,
  count,
  DAY,
  downloadNar,
  gc,
  narinfoStatus,
  narOf,
  secondsAgo,
  setRetention,
  storedFiles,
  uploadNar,
  useGcApp,
} from "../../../../test/support/gc.ts";
import { lcgBytes } from "../../../../test/support/nar.ts";
import { describeEachDb } from "../../../../test/support/postgres.ts";
import { silentLogger } from "../log.ts";
import { runGarbageCollection } from "./run-gc.ts";

describeEachDb("one GC run", (getDb) => {
  let t: TestApp;
  const app = useGcApp(getDb);
  const later = (seconds: number) => new Date(Date.now() + seconds * 1000);

  beforeEach(async () => {
    t = app();
  });

  describe("retention (atticd's rules)", () => {
    it("expires by created_at past the cache's retention_period and frees every file", async () => {
      await setRetention(t, "a", DAY);
      const x = await uploadNar(t, { cache: "a", nar: narOf(lcgBytes(30_000, 1)) });
      const y = await uploadNar(t, { cache: "a", nar: narOf("small") });
      expect((await storedFiles(t.storageDir)).length).toBeGreaterThan(1);

      const early = await gc(t, { now: later(DAY - 60) });
      expect(early).toMatchObject({ ran: true, objects: 0, nars: 0, chunks: 0 });
      expect(await narinfoStatus(t, "a", x.hash)).toBe(200);

      const files = (await storedFiles(t.storageDir)).length;
      const summary = await gc(t, { now: later(DAY + 60) });
      expect(summary).toMatchObject({ ran: true, objects: 2, nars: 2, chunks: files, failedDeletions: 0 });
      expect(summary.bytes).toBeGreaterThan(0);
      expect(await narinfoStatus(t, "a", x.hash)).toBe(404);
      expect(await narinfoStatus(t, "a", y.hash)).toBe(404);
      expect(await storedFiles(t.storageDir)).toEqual([]);
      expect(await count(t, "SELECT count(*) AS n FROM chunk")).toBe(0);
    });

    it("keeps objects downloaded within the period (last_accessed_at)", async () => {
      await setRetention(t, "a", DAY);
      const x = await uploadNar(t, { cache: "a", nar: narOf("accessed") });
      const y = await uploadNar(t, { cache: "a", nar: narOf("not accessed") });
      await age(t, "a", x.hash, 3 * DAY);
      await age(t, "a", y.hash, 3 * DAY);
      expect(await downloadNar(t, "a", x.hash)).toEqual(x.nar);
      await t.deps.access.flush();
      const summary = await gc(t);
      expect(summary.objects).toBe(1);
      expect(await narinfoStatus(t, "a", x.hash)).toBe(200);
      expect(await narinfoStatus(t, "a", y.hash)).toBe(404);
    });

    it("uses the default retention for Global caches, 0 keeps forever, and a cache's own period wins", async () => {
      await t.createCache("c");
      await setRetention(t, "b", 0);
      await setRetention(t, "c", 10 * DAY);
      const xa = await uploadNar(t, { cache: "a", nar: narOf("global") });
      const xb = await uploadNar(t, { cache: "b", nar: narOf("forever") });
      const xc = await uploadNar(t, { cache: "c", nar: narOf("ten days") });

      expect((await gc(t, { now: later(5 * DAY), defaultRetentionSeconds: 0 })).objects).toBe(0);
      const summary = await gc(t, { now: later(5 * DAY), defaultRetentionSeconds: DAY });
      expect(summary.objects).toBe(1);
      expect(await narinfoStatus(t, "a", xa.hash)).toBe(404);
      expect(await narinfoStatus(t, "b", xb.hash)).toBe(200);
      expect(await narinfoStatus(t, "c", xc.hash)).toBe(200);
      expect((await gc(t, { now: later(11 * DAY), defaultRetentionSeconds: DAY })).objects).toBe(1);
      expect(await narinfoStatus(t, "c", xc.hash)).toBe(404);
    });

    it("includes soft-deleted caches", async () => {
      await setRetention(t, "a", DAY);
      await uploadNar(t, { cache: "a", nar: narOf("in a soft-deleted cache") });
      await t.db.withSession((s) => s.query("UPDATE cache SET deleted_at = now() WHERE name = 'a'"));
      expect((await gc(t, { now: later(2 * DAY) })).objects).toBe(1);
      expect(await storedFiles(t.storageDir)).toEqual([]);
    });

    it("a NAR shared with another cache stays for that cache", async () => {
      await setRetention(t, "a", DAY);
      const nar = narOf(lcgBytes(40_000, 9));
      const xa = await uploadNar(t, { cache: "a", nar });
      const xb = await uploadNar(t, { cache: "b", nar });
      const files = await storedFiles(t.storageDir);
      const summary = await gc(t, { now: later(2 * DAY) });
      expect(summary).toMatchObject({ objects: 1, nars: 0, chunks: 0 });
      expect(await narinfoStatus(t, "a", xa.hash)).toBe(404);
      expect(await downloadNar(t, "b", xb.hash)).toEqual(nar);
      expect(await storedFiles(t.storageDir)).toEqual(files);
    });
  });

  describe("what uploads and crashes leave behind", () => {
    it("a re-upload pointing a path at another NAR frees the old one", async () => {
      const first = await uploadNar(t, { cache: "a", nar: narOf(lcgBytes(20_000, 4)) });
      const second = await uploadNar(t, { cache: "a", hash: first.hash, nar: narOf(lcgBytes(20_000, 5)) });
      const summary = await gc(t);
      expect(summary.nars).toBe(1);
      expect(summary.chunks).toBeGreaterThan(0);
      expect(await downloadNar(t, "a", second.hash)).toEqual(second.nar);
    });

    it("an upload that fails after storing chunks leaves files the next run deletes", async () => {
      await gc(t);
      // Larger than an ingest segment (4 MiB), so the first segment's chunks are stored before the
      // hash check at the end fails.
      const nar = narOf(lcgBytes(9_000_000, 6));
      const bad = Buffer.from(nar);
      bad.write("corrupted", nar.length - 200);
      const failed = await uploadNar(t, { cache: "a", nar, body: bad });
      expect(failed.status).toBe(400);
      expect((await storedFiles(t.storageDir)).length).toBeGreaterThan(0);
      const summary = await gc(t);
      expect(summary.fullSweep).toBe(false);
      expect(summary.chunks).toBeGreaterThan(0);
      expect(await storedFiles(t.storageDir)).toEqual([]);
    });

    it("never takes NARs or chunks an upload holds a lease on", async () => {
      const x = await uploadNar(t, { cache: "a", nar: narOf(lcgBytes(30_000, 8)) });
      await t.db.withSession(async (s) => {
        await s.query("DELETE FROM object");
        await s.query("UPDATE nar SET holders_count = 1");
      });
      const files = await storedFiles(t.storageDir);
      expect(await gc(t)).toMatchObject({ nars: 0, chunks: 0 });
      expect(await storedFiles(t.storageDir)).toEqual(files);

      // The NAR is released without an object: the next run takes it and its chunks.
      await t.db.withSession((s) => s.query("UPDATE nar SET holders_count = 0"));
      await t.db.withSession((s) => s.query("UPDATE chunk SET holders_count = 1"));
      expect(await gc(t)).toMatchObject({ nars: 1, chunks: 0 });
      expect(await storedFiles(t.storageDir)).toEqual(files);
      await t.db.withSession((s) => s.query("UPDATE chunk SET holders_count = 0"));
      expect((await gc(t)).chunks).toBe(files.length);
      expect(await storedFiles(t.storageDir)).toEqual([]);
      void x;
    });

    it("reaps pending NARs and chunks older than the grace period, not younger ones", async () => {
      await t.db.withSession(async (s) => {
        await s.query(
          `INSERT INTO nar (state, nar_hash, nar_size, compression, num_chunks, holders_count, created_at)
           VALUES ('P', 'sha256:00', 1, 'zstd', 0, 0, $1),
                  ('P', 'sha256:01', 1, 'zstd', 0, 0, now())`,
          [secondsAgo(7 * 3600)],
        );
        await s.query(
          `INSERT INTO chunk (state, chunk_hash, chunk_size, compression, remote_file, remote_file_id, holders_count, created_at)
           VALUES ('P', 'sha256:02', 1, 'zstd', '{"Local":{"name":"stale.chunk"}}', 'local:stale.chunk', 0, $1),
                  ('P', 'sha256:03', 1, 'zstd', '{"Local":{"name":"young.chunk"}}', 'local:young.chunk', 0, now())`,
          [secondsAgo(7 * 3600)],
        );
      });
      await t.storage.put("stale.chunk", Buffer.from("partial"));
      const summary = await gc(t);
      expect(summary).toMatchObject({ nars: 1, chunks: 1 });
      expect(await count(t, "SELECT count(*) AS n FROM nar WHERE state = 'P'")).toBe(1);
      expect(await count(t, "SELECT count(*) AS n FROM chunk WHERE state = 'P'")).toBe(1);
      expect(await storedFiles(t.storageDir)).toEqual([]);
    });

    it("retries failed storage deletions on the next run", async () => {
      await setRetention(t, "a", DAY);
      await uploadNar(t, { cache: "a", nar: narOf(lcgBytes(30_000, 10)) });
      const files = (await storedFiles(t.storageDir)).length;
      let failures = 1;
      const flaky: StorageBackend = Object.create(t.storage, {
        delete: {
          value: async (file: ReturnType<typeof parseRemoteFile>) => {
            if (failures-- > 0) throw new Error("storage unavailable");
            return t.storage.delete(file);
          },
        },
      });
      const opts = { defaultRetentionSeconds: 0, pendingGraceSeconds: 3600, now: later(2 * DAY) };
      const first = await runGarbageCollection(t.db, flaky, silentLogger(), opts);
      expect(first).toMatchObject({ objects: 1, failedDeletions: 1, chunks: files - 1 });
      expect(await storedFiles(t.storageDir)).toHaveLength(1);
      expect(await count(t, "SELECT count(*) AS n FROM chunk WHERE state = 'D'")).toBe(1);
      const second = await runGarbageCollection(t.db, flaky, silentLogger(), opts);
      expect(second).toMatchObject({ objects: 0, failedDeletions: 0, chunks: 1 });
      expect(await storedFiles(t.storageDir)).toEqual([]);
    });
  });

  describe("dry run and bookkeeping", () => {
    it("reports what would go and changes nothing", async () => {
      await setRetention(t, "a", DAY);
      const x = await uploadNar(t, { cache: "a", nar: narOf(lcgBytes(30_000, 11)) });
      await uploadNar(t, { cache: "b", nar: narOf("kept") });
      const files = await storedFiles(t.storageDir);
      const dry = await gc(t, { now: later(2 * DAY), dryRun: true });
      expect(dry).toMatchObject({ ran: true, dryRun: true, objects: 1, nars: 1, failedDeletions: 0 });
      expect(dry.chunks).toBe(files.length - 1);
      expect(dry.paths).toEqual([{ cache: "a", storePath: x.storePath }]);
      expect(await storedFiles(t.storageDir)).toEqual(files);
      expect(await narinfoStatus(t, "a", x.hash)).toBe(200);
      expect(await count(t, "SELECT count(*) AS n FROM garret_gc_run")).toBe(0);

      const real = await gc(t, { now: later(2 * DAY) });
      expect(real).toMatchObject({
        objects: dry.objects,
        nars: dry.nars,
        chunks: dry.chunks,
        bytes: dry.bytes,
      });
    });

    it("logs one summary line per run", async () => {
      const lines: string[] = [];
      const log = { ...silentLogger(), info: (msg: string) => lines.push(msg) };
      await runGarbageCollection(t.db, t.storage, log, {
        defaultRetentionSeconds: 0,
        pendingGraceSeconds: 60,
        now: new Date(),
      });
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(
        /^garbage collection: deleted 0 objects, 0 NARs, 0 chunks, 0 bytes in \d+ ms$/,
      );
    });

    it("records runs; the first one sweeps everything, later ones only queued and recent data", async () => {
      expect((await gc(t)).fullSweep).toBe(true);
      expect((await gc(t)).fullSweep).toBe(false);
      expect((await gc(t, { fullSweep: true })).fullSweep).toBe(true);
      expect(await count(t, "SELECT count(*) AS n FROM garret_gc_run")).toBe(3);
    });
  });
});
