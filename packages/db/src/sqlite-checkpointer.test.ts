/**
 * Where an SQLite file's WAL checkpoints run. Without a worker pool (garretadm, short-lived
 * processes), the connection keeps SQLite's automatic checkpoint and no thread starts. With one
 * (garretd's), the connection never checkpoints by itself (`wal_autocheckpoint` 0) and the
 * checkpointer hands checkpoint tasks (sqlite-checkpoint-task.ts) to the pool, counting the frames
 * they copy into the database file. garretd's own pool running them is tested where it is composed
 * (apps/garretd/src/sqlite-checkpoints.test.ts): this package depends on no pool, so here the task
 * runs on this thread, on real files.
 */
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterAll, beforeAll, expect, it, vi } from "vitest";
import { createDb } from "./client.ts";
import { type CheckpointTask, checkpointWal } from "./sqlite-checkpoint-task.ts";
import { SqliteCheckpointer } from "./sqlite-checkpointer.ts";
import type { TaskRunner } from "./task-runner.ts";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "garret-checkpoint-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The checkpoint task run here, in place of a pool; records what it was asked to run. */
function thisThread(ran: string[]): TaskRunner {
  return {
    async run(task, { filename, name }) {
      ran.push(`${filename.split("/").pop()}#${name}`);
      return checkpointWal(task as CheckpointTask);
    },
  };
}

it("without a worker pool, the connection checkpoints by itself and starts no thread", async () => {
  const threads: unknown[] = [];
  const onThread = (message: unknown) => threads.push(message);
  subscribe("worker_threads", onThread);
  const path = join(dir, "adm.db");
  const db = await createDb({ kind: "sqlite", path });
  try {
    const [row] = await db.withSession((s) =>
      s.query<{ wal_autocheckpoint: number }>("PRAGMA wal_autocheckpoint"),
    );
    expect(row?.wal_autocheckpoint).toBe(1000);
    await db.withSession((s) => s.exec("CREATE TABLE t (x TEXT)"));
    for (let i = 0; i < 120; i++)
      await db.withSession((s) => s.query("INSERT INTO t (x) VALUES ($1)", [`${i}`]));
  } finally {
    await db.close();
    unsubscribe("worker_threads", onThread);
  }
  expect(threads).toEqual([]);
  // The last connection's close checkpointed the WAL and removed it.
  expect(existsSync(`${path}-wal`)).toBe(false);
});

it("with a worker pool, the connection never checkpoints by itself", async () => {
  const ran: string[] = [];
  const db = await createDb({ kind: "sqlite", path: join(dir, "server.db"), workers: thisThread(ran) });
  try {
    const [row] = await db.withSession((s) =>
      s.query<{ wal_autocheckpoint: number }>("PRAGMA wal_autocheckpoint"),
    );
    expect(row?.wal_autocheckpoint).toBe(0);
    // A hundred writes start the checkpoints, on the pool; closing stops them.
    await db.withSession((s) => s.exec("CREATE TABLE t (x TEXT)"));
    for (let i = 0; i < 120; i++)
      await db.withSession((s) => s.query("INSERT INTO t (x) VALUES ($1)", [`${i}`]));
    await vi.waitFor(() => expect(ran.length).toBeGreaterThan(0), { timeout: 10_000, interval: 50 });
  } finally {
    await db.close();
  }
  expect(new Set(ran)).toEqual(new Set(["sqlite-checkpoint-task.ts#checkpointWal"]));
});

it("the checkpoint tasks copy what the main connection wrote, and count the frames", async () => {
  const path = join(dir, "writes.db");
  const conn = new DatabaseSync(path);
  conn.exec("PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; CREATE TABLE t (x TEXT)");
  const insert = conn.prepare("INSERT INTO t (x) VALUES (?)");
  for (let i = 0; i < 2_000; i++) insert.run(`${"x".repeat(2_000)}${i}`);
  const failures: unknown[] = [];
  const checkpointer = new SqliteCheckpointer(path, thisThread([]), (err) => failures.push(err), 1);
  try {
    checkpointer.wrote();
    await vi.waitFor(() => expect(checkpointer.checkpointedFrames).toBeGreaterThan(1_000), {
      timeout: 30_000,
      interval: 100,
    });
  } finally {
    await checkpointer.stop();
    conn.close();
  }
  expect(failures).toEqual([]);
  const reopened = new DatabaseSync(path);
  expect(reopened.prepare("SELECT count(*) AS n FROM t").get()?.n).toBe(2_000);
  reopened.close();
});

it("a failing checkpoint task gives the main connection its automatic checkpoint back", async () => {
  const failing: TaskRunner = { run: async () => Promise.reject(new Error("the pool is gone")) };
  const db = await createDb({ kind: "sqlite", path: join(dir, "fails.db"), workers: failing });
  try {
    await db.withSession((s) => s.exec("CREATE TABLE t (x TEXT)"));
    for (let i = 0; i < 120; i++)
      await db.withSession((s) => s.query("INSERT INTO t (x) VALUES ($1)", [`${i}`]));
    await vi.waitFor(
      async () => {
        const [row] = await db.withSession((s) =>
          s.query<{ wal_autocheckpoint: number }>("PRAGMA wal_autocheckpoint"),
        );
        expect(row?.wal_autocheckpoint).toBe(1000);
      },
      { timeout: 10_000, interval: 50 },
    );
  } finally {
    await db.close();
  }
});
