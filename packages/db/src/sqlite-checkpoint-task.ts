/**
 * One WAL checkpoint of an SQLite file, run as a task on garretd's worker pool
 * (`sqlite-checkpointer.ts`): a connection of its own copies the WAL's frames into the database
 * (the page copies and the fsync) so that the main thread never does. PASSIVE takes no lock that
 * the main connection waits for.
 *
 * The connection is opened and closed by each task (~0.1 ms of CPU, measured: four a second cost
 * nothing) rather than kept per worker: the pool ends idle workers, and a connection left open in
 * one would make the main connection's close no longer the last, so it would not checkpoint and
 * remove the WAL when garretd stops.
 */
import { DatabaseSync } from "node:sqlite";

export interface CheckpointTask {
  path: string;
}

/** `log`: the WAL's length in frames; `checkpointed`: how many of them are in the database file. */
export interface CheckpointResult {
  log: number;
  checkpointed: number;
}

export function checkpointWal({ path }: CheckpointTask): CheckpointResult {
  const conn = new DatabaseSync(path, { timeout: 5_000 });
  try {
    const row = conn.prepare("PRAGMA wal_checkpoint(PASSIVE)").get() as CheckpointResult | undefined;
    return { log: row?.log ?? 0, checkpointed: row?.checkpointed ?? 0 };
  } finally {
    conn.close();
  }
}
