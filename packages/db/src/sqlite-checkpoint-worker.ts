/**
 * Worker thread of `sqlite-checkpointer.ts`: its own connection to the SQLite file, checkpointing
 * the WAL into the database (page copies and the fsync) so the main thread never does. PASSIVE
 * checkpoints take no lock that the main connection waits for. The thread ends by itself once the
 * WAL has stayed empty for a while (an idle server keeps no thread), or when told to stop.
 */
import { DatabaseSync } from "node:sqlite";
import { parentPort, workerData } from "node:worker_threads";

const { path, intervalMs, idleRounds } = workerData as {
  path: string;
  intervalMs: number;
  idleRounds: number;
};
const conn = new DatabaseSync(path, { timeout: 5_000 });
const checkpoint = conn.prepare("PRAGMA wal_checkpoint(PASSIVE)");
let idle = 0;
// The WAL's length and checkpointed frames at the previous round: only new progress is reported.
let last = 0;
let lastCheckpointed = 0;

const stop = () => {
  clearInterval(timer);
  parentPort?.close();
  conn.close();
};

const timer = setInterval(() => {
  const row = checkpoint.get() as { log: number; checkpointed: number } | undefined;
  const copied = row ? row.checkpointed - (row.log < last ? 0 : lastCheckpointed) : 0;
  if (copied > 0) parentPort?.postMessage({ checkpointed: copied });
  last = row?.log ?? 0;
  lastCheckpointed = row?.checkpointed ?? 0;
  // `log` is the WAL's length in frames: 0 once a writer restarted it after a complete checkpoint.
  idle = (row?.log ?? 0) === 0 || row?.log === row?.checkpointed ? idle + 1 : 0;
  if (idle >= idleRounds) stop();
}, intervalMs);

parentPort?.on("message", (msg: unknown) => {
  if (msg === "stop") stop();
});
