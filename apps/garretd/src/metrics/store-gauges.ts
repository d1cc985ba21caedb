/**
 * Keeps the `garret_store_*` gauges current with one `storeTotals` query per interval (never per
 * scrape, so scrapers cannot multiply the database load). The first refresh starts at once; a failed
 * refresh keeps the previous values and is logged at debug level (readiness reports outages).
 */
import { type Db, storeTotals } from "@garret/db";
import type { Logger } from "../log.ts";
import type { GarretMetrics } from "./garret-metrics.ts";

export interface StoreGauges {
  /** Runs one refresh now (tests, first scrape). */
  refresh(): Promise<void>;
  /** Stops the timer and waits for a refresh in progress, so the database can close after it. */
  close(): Promise<void>;
}

export function startStoreGauges(
  db: Db,
  metrics: GarretMetrics,
  log: Logger,
  intervalMs: number,
): StoreGauges {
  let running: Promise<void> | null = null;
  const refresh = () => {
    running ??= (async () => {
      try {
        const t = await storeTotals(db);
        metrics.storeCaches.set(t.caches);
        metrics.storeObjects.set(t.objects);
        metrics.storeObjectNarBytes.set(t.objectNarBytes);
        metrics.storeNars.set(t.nars);
        metrics.storeNarBytes.set(t.narBytes);
        metrics.storeChunks.set(t.chunks);
        metrics.storeStoredBytes.set(t.storedBytes);
        metrics.storeLastGcFinished.set(t.lastGcFinishedAt ? t.lastGcFinishedAt.getTime() / 1000 : 0);
        metrics.storeRefreshed.set(Date.now() / 1000);
      } catch (err) {
        log.debug("refreshing store metrics failed", { err });
      } finally {
        running = null;
      }
    })();
    return running;
  };
  const timer = intervalMs > 0 ? setInterval(() => void refresh(), intervalMs) : null;
  timer?.unref();
  if (intervalMs > 0) void refresh();
  return {
    refresh,
    async close() {
      if (timer) clearInterval(timer);
      await running;
    },
  };
}
