/**
 * garretd's SQLite file has its WAL checkpointed on the process's worker pool (build-deps.ts gives
 * the pool to the database): the checkpoints are tasks there, copying the WAL's frames into the
 * database file while garretd writes, so the WAL restarts instead of growing, and no thread of
 * their own starts (the pool's worker is the only one). Closing leaves no connection behind, so the
 * main connection's close removes the WAL. If the pool fails them, the main connection checkpoints
 * by itself again.
 */
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { existsSync, statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createWorkerPool, type WorkerPool } from "@garret/chunking";
import type { Db } from "@garret/db";
import { afterAll, beforeAll, expect, it, vi } from "vitest";
import { openLocalDatabase } from "./build-deps.ts";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "garret-checkpoints-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const open = (path: string, workers: WorkerPool) =>
  openLocalDatabase({ kind: "sqlite", path, mode: "rwc", embedded: false }, workers);

const autocheckpoint = async (db: Db) => {
  const [row] = await db.query<{ wal_autocheckpoint: number }>("PRAGMA wal_autocheckpoint", []);
  return row?.wal_autocheckpoint;
};

/** 200 rows of 2 KB, each its own commit. */
async function writeBatch(db: Db, batch: number): Promise<void> {
  for (let i = 0; i < 200; i++)
    await db.query("INSERT INTO t (x) VALUES ($1)", [`${"x".repeat(2_000)}${batch}-${i}`]);
}

it("checkpoints run as tasks on the worker pool, which is the only thread started", async () => {
  const threads: unknown[] = [];
  const onThread = (message: unknown) => threads.push(message);
  subscribe("worker_threads", onThread);
  const pool = createWorkerPool({ threads: 1 });
  // The pool, recording the tasks it finished.
  const finished: string[] = [];
  const workers: WorkerPool = {
    threads: pool.threads,
    run: async (task, options) => {
      const result = await pool.run(task, options);
      finished.push(`${options.filename.split("/").pop()}#${options.name}`);
      return result;
    },
    close: () => pool.close(),
  };
  const path = join(dir, "server.db");
  const db = await open(path, workers);
  let walBytes = 0;
  try {
    expect(await autocheckpoint(db)).toBe(0);
    await db.query("CREATE TABLE t (x TEXT)", []);
    // Each batch is followed by a checkpoint that started after it: every frame is in the database
    // file, and the next batch's first commit restarts the WAL.
    for (let batch = 0; batch < 20; batch++) {
      await writeBatch(db, batch);
      const seen = finished.length;
      await vi.waitFor(() => expect(finished.length).toBeGreaterThanOrEqual(seen + 2), {
        timeout: 20_000,
        interval: 20,
      });
      walBytes = Math.max(walBytes, statSync(`${path}-wal`).size);
    }
    // 4,000 rows of 2 KB are in the database file while the main connection is open...
    expect(statSync(path).size).toBeGreaterThan(8_000_000);
    // ...and the WAL held about a batch of them at most, not all of them (it never restarted).
    expect(walBytes).toBeLessThan(4_000_000);
  } finally {
    await db.close();
    await pool.close();
    unsubscribe("worker_threads", onThread);
  }
  expect(new Set(finished)).toEqual(new Set(["sqlite-checkpoint-task.ts#checkpointWal"]));
  expect(threads).toHaveLength(1);
  expect(existsSync(`${path}-wal`)).toBe(false);
});

it("when the pool refuses the checkpoints, the main connection checkpoints by itself again", async () => {
  const pool = createWorkerPool({ threads: 1 });
  await pool.close();
  const db = await open(join(dir, "refused.db"), pool);
  try {
    await db.query("CREATE TABLE t (x TEXT)", []);
    await writeBatch(db, 0);
    await vi.waitFor(async () => expect(await autocheckpoint(db)).toBe(1000), {
      timeout: 10_000,
      interval: 50,
    });
  } finally {
    await db.close();
  }
});
