/**
 * WAL checkpoints of an SQLite file leave the main thread: garretd's connection to a file never
 * checkpoints by itself (`wal_autocheckpoint` 0; an in-memory database has no WAL), and the
 * checkpointer's worker thread, with a connection of its own, copies what was written into the
 * database file, then stops when asked.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterAll, beforeAll, expect, it, vi } from "vitest";
import { createDb } from "./client.ts";
import { SqliteCheckpointer } from "./sqlite-checkpointer.ts";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "garret-checkpoint-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

it("garretd's connection to a file never checkpoints by itself", async () => {
  const db = await createDb({ kind: "sqlite", path: join(dir, "server.db") });
  try {
    const [row] = await db.withSession((s) =>
      s.query<{ wal_autocheckpoint: number }>("PRAGMA wal_autocheckpoint"),
    );
    expect(row?.wal_autocheckpoint).toBe(0);
    // A hundred writes start the worker; closing stops it.
    await db.withSession((s) => s.exec("CREATE TABLE t (x TEXT)"));
    for (let i = 0; i < 120; i++)
      await db.withSession((s) => s.query("INSERT INTO t (x) VALUES ($1)", [`${i}`]));
  } finally {
    await db.close();
  }
});

it("the worker checkpoints what the main connection wrote", async () => {
  const path = join(dir, "writes.db");
  const conn = new DatabaseSync(path);
  conn.exec("PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; CREATE TABLE t (x TEXT)");
  const insert = conn.prepare("INSERT INTO t (x) VALUES (?)");
  for (let i = 0; i < 2_000; i++) insert.run(`${"x".repeat(2_000)}${i}`);
  const failures: unknown[] = [];
  const checkpointer = new SqliteCheckpointer(path, (err) => failures.push(err), 1);
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
