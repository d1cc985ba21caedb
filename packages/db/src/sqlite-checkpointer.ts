/**
 * WAL checkpoints of an SQLite file off the main thread. SQLite's automatic checkpoint runs inside
 * whichever write commits after the WAL passes 1,000 pages: on garretd's one connection that is the
 * main thread, which then copies ~4 MB of pages and waits for an fsync while every request waits
 * with it (upload load made narinfo's p99 on SQLite twice Postgres's). The main connection turns
 * automatic checkpoints off, and checkpoints run as tasks on garretd's worker pool instead
 * (sqlite-checkpoint-task.ts), each with a connection of its own: no isolate of their own, the
 * compression workers run them between chunks. They start once a hundred writes have gone to the
 * WAL (a few writes, such as start-up's, cost no task: closing the connection checkpoints them),
 * one at a time, the next 250 ms after the previous one ends, and stop after the WAL has stayed
 * empty for 30 s, so an idle server keeps no pool thread busy.
 */
import type { CheckpointResult, CheckpointTask } from "./sqlite-checkpoint-task.ts";
import type { TaskRunner } from "./task-runner.ts";

const TASK_URL = new URL("./sqlite-checkpoint-task.ts", import.meta.url).href;
/** The pause between one checkpoint's end and the next one's start. */
const INTERVAL_MS = 250;
/** Checkpoints finding nothing to do before they stop (30 s). */
const IDLE_ROUNDS = 120;
/** Write statements or transactions that start the checkpoints. */
const START_AFTER_WRITES = 100;

export class SqliteCheckpointer {
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> | null = null;
  private running = false;
  private stopped = false;
  private readonly path: string;
  private readonly runner: TaskRunner;
  private readonly onFailure: (err: unknown) => void;
  private readonly startAfter: number;
  private writes = 0;
  private idle = 0;
  // The WAL's length and checkpointed frames at the previous checkpoint: only new progress counts.
  private lastLog = 0;
  private lastCheckpointed = 0;
  /** WAL frames the checkpoints have copied into the database so far. */
  checkpointedFrames = 0;

  /**
   * `onFailure` runs once if a checkpoint task fails (none runs again): the caller turns the main
   * connection's automatic checkpoints back on, so the WAL never grows without bound.
   */
  constructor(
    path: string,
    runner: TaskRunner,
    onFailure: (err: unknown) => void,
    startAfter = START_AFTER_WRITES,
  ) {
    this.path = path;
    this.runner = runner;
    this.onFailure = onFailure;
    this.startAfter = startAfter;
  }

  /** After a statement or transaction that may have written: starts the checkpoints when due. */
  wrote(): void {
    if (this.running || this.stopped || ++this.writes < this.startAfter) return;
    this.writes = 0;
    this.idle = 0;
    this.running = true;
    this.schedule();
  }

  /** Stops the checkpoints, waiting for one in flight (before the main connection closes). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.inFlight;
  }

  private schedule(): void {
    // Unreferenced: pending checkpoints never keep the process alive.
    this.timer = setTimeout(() => {
      this.timer = null;
      this.inFlight = this.checkpoint().finally(() => {
        this.inFlight = null;
      });
    }, INTERVAL_MS);
    this.timer.unref();
  }

  private async checkpoint(): Promise<void> {
    let row: CheckpointResult;
    try {
      const task: CheckpointTask = { path: this.path };
      row = (await this.runner.run(task, { filename: TASK_URL, name: "checkpointWal" })) as CheckpointResult;
    } catch (err) {
      this.running = false;
      if (this.stopped) return;
      this.stopped = true;
      this.onFailure(err);
      return;
    }
    this.checkpointedFrames += row.checkpointed - (row.log < this.lastLog ? 0 : this.lastCheckpointed);
    this.lastLog = row.log;
    this.lastCheckpointed = row.checkpointed;
    // `log` is 0 once a writer restarted the WAL after a complete checkpoint.
    this.idle = row.log === 0 || row.log === row.checkpointed ? this.idle + 1 : 0;
    if (this.idle >= IDLE_ROUNDS) this.running = false;
    else if (!this.stopped) this.schedule();
  }
}
