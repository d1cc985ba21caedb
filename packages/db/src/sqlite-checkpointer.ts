/**
 * WAL checkpoints of an SQLite file off the main thread. SQLite's automatic checkpoint runs inside
 * whichever write commits after the WAL passes 1,000 pages: on garretd's one connection that is the
 * main thread, which then copies ~4 MB of pages and waits for an fsync while every request waits
 * with it (upload load made narinfo's p99 on SQLite twice Postgres's). The main connection turns
 * automatic checkpoints off, and a worker thread with its own connection checkpoints instead
 * (sqlite-checkpoint-worker.ts): started once a hundred writes have gone to the WAL (a few writes,
 * such as start-up's, cost no thread: closing the connection checkpoints them), ended after the WAL
 * has stayed empty for 30 s.
 */
import { once } from "node:events";
import { Worker } from "node:worker_threads";

const WORKER_URL = new URL("./sqlite-checkpoint-worker.ts", import.meta.url);
/** How often the worker checkpoints while it runs. */
const INTERVAL_MS = 250;
/** Checkpoints finding nothing to do before the worker ends (30 s). */
const IDLE_ROUNDS = 120;
/** Write statements or transactions that start the worker. */
const START_AFTER_WRITES = 100;
/** How long a stopping worker may take to close its connection before it is terminated. */
const STOP_GRACE_MS = 2_000;

export class SqliteCheckpointer {
  private worker: Worker | null = null;
  private stopped = false;
  private readonly path: string;
  private readonly onFailure: (err: unknown) => void;
  private readonly startAfter: number;
  private writes = 0;
  /** WAL frames the worker's checkpoints have copied into the database so far. */
  checkpointedFrames = 0;

  /**
   * `onFailure` runs once if the worker fails (it is not started again): the caller turns the main
   * connection's automatic checkpoints back on, so the WAL never grows without bound.
   */
  constructor(path: string, onFailure: (err: unknown) => void, startAfter = START_AFTER_WRITES) {
    this.path = path;
    this.onFailure = onFailure;
    this.startAfter = startAfter;
  }

  /** After a statement or transaction that may have written: starts the worker when it is due. */
  wrote(): void {
    if (this.worker || this.stopped || ++this.writes < this.startAfter) return;
    this.writes = 0;
    const worker = new Worker(WORKER_URL, {
      workerData: { path: this.path, intervalMs: INTERVAL_MS, idleRounds: IDLE_ROUNDS },
    });
    worker.unref();
    worker.on("message", (m: { checkpointed: number }) => {
      this.checkpointedFrames += m.checkpointed;
    });
    worker.on("exit", () => {
      if (this.worker === worker) this.worker = null;
    });
    worker.on("error", (err) => {
      if (this.worker === worker) this.worker = null;
      if (this.stopped) return;
      this.stopped = true;
      this.onFailure(err);
    });
    this.worker = worker;
  }

  /** Stops the worker (before the main connection closes). */
  async stop(): Promise<void> {
    this.stopped = true;
    const worker = this.worker;
    this.worker = null;
    if (!worker) return;
    const exited = once(worker, "exit").catch(() => undefined);
    worker.postMessage("stop");
    const timer = setTimeout(() => void worker.terminate(), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  }
}
