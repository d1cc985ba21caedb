/**
 * Batches `object.last_accessed_at` bumps: a NAR download records its object id in memory and one
 * UPDATE per interval writes them all, so downloads never wait on, or queue up behind, a write.
 * Retention compares against days, so a few seconds of delay change nothing; a crash loses at most
 * one interval of access times, which only makes retention keep less, never serve broken data.
 */
import { bumpLastAccessed, type Db } from "@garret/db";
import type { Logger } from "../log.ts";

export interface AccessRecorder {
  record(objectId: number): void;
  flush(): Promise<void>;
  close(): Promise<void>;
}

export function createAccessRecorder(
  db: Db,
  log: Logger,
  opts: { intervalMs?: number; clock?: () => Date } = {},
): AccessRecorder {
  const clock = opts.clock ?? (() => new Date());
  let pending = new Set<number>();
  let running: Promise<void> | null = null;

  const flush = async (): Promise<void> => {
    if (running) await running;
    if (pending.size === 0) return;
    const ids = [...pending];
    pending = new Set();
    running = bumpLastAccessed(db, ids, clock())
      .catch((err: unknown) => {
        for (const id of ids) pending.add(id);
        log.warn("failed to record object access times; will retry", { err, objects: ids.length });
      })
      .finally(() => {
        running = null;
      });
    await running;
  };

  const timer = setInterval(() => void flush(), opts.intervalMs ?? 5000);
  timer.unref();

  return {
    record(id) {
      pending.add(id);
      if (pending.size >= 10_000) void flush();
    },
    flush,
    async close() {
      clearInterval(timer);
      await flush();
    },
  };
}
