/**
 * The process's worker-thread pool (piscina): every task garretd runs off the main thread, whatever
 * module it comes from, the chunk compressor's (compression-worker.ts) and @garret/db's WAL
 * checkpoints (`TaskRunner`, which this satisfies), so that the process has one set of worker
 * isolates, not one per kind of work (each is ~10 MiB at peak). Each task names its module and
 * export. The pool (and piscina itself) starts with the first task, so an idle server has no worker
 * thread; workers idle for 30 s stop again.
 */
import { availableParallelism } from "node:os";
import type { TransferListItem } from "node:worker_threads";
import type { Piscina } from "piscina";

export interface WorkerPool {
  /** Worker threads at most. */
  readonly threads: number;
  /** Calls the export `name` of the module at `filename` (a file URL) with `task` on a worker. */
  run(
    task: unknown,
    options: { filename: string; name: string; transferList?: TransferListItem[] },
  ): Promise<unknown>;
  /** Waits for queued tasks, then stops the workers; later tasks are refused. */
  close(): Promise<void>;
}

export interface WorkerPoolOptions {
  /** Worker threads at most; defaults to the number of CPUs. */
  threads?: number;
}

export function createWorkerPool(options: WorkerPoolOptions = {}): WorkerPool {
  const threads = options.threads ?? availableParallelism();
  if (!Number.isSafeInteger(threads) || threads < 1)
    throw new RangeError(`threads must be >= 1, got ${threads}`);
  let pool: Promise<Piscina> | undefined;
  const startPool = async (): Promise<Piscina> => {
    const { Piscina } = await import("piscina");
    return new Piscina({ minThreads: 0, maxThreads: threads, idleTimeout: 30_000 });
  };
  let closed = false;
  return {
    threads,
    async run(task, options) {
      if (closed) throw new Error("worker pool is closed");
      pool ??= startPool();
      return (await pool).run(task, options);
    },
    async close() {
      if (closed) return;
      closed = true;
      await (await pool)?.close();
    },
  };
}
