/**
 * Keeps this process's in-memory lookups (narinfo rows, cache rows) in step with the database.
 * Migration 0008's triggers NOTIFY `garret_changes` with `object` or `cache` whenever a row those
 * lookups may hold changes, whoever wrote it (another replica, garretadm, atticd on an adopted
 * database); this LISTENs and forgets. While the feed is live the memos keep entries for minutes;
 * when it drops they forget everything and fall back to their one-second bound until it is back.
 */
import type { Db } from "@garret/db";
import type { Logger } from "../log.ts";
import type { GarretMetrics } from "../metrics/garret-metrics.ts";
import type { ProcessState } from "./process-state.ts";

export const CHANGE_CHANNEL = "garret_changes";

export interface ChangeFeed {
  /** Whether notifications are flowing right now. */
  readonly live: boolean;
  close(): Promise<void>;
}

export async function startChangeFeed(
  db: Db,
  targets: Pick<ProcessState, "objects" | "caches">,
  log: Logger,
  metrics?: GarretMetrics,
): Promise<ChangeFeed> {
  let live = false;
  const unlisten = await db.listen(CHANGE_CHANNEL, {
    onNotify(payload) {
      targets.objects.forget();
      if (payload === "cache") targets.caches.clear();
    },
    onState(listening) {
      if (listening === live) return;
      live = listening;
      targets.objects.setLive(listening);
      targets.caches.setLive(listening);
      metrics?.changeFeedLive.set(listening ? 1 : 0);
      if (listening) log.info("change feed live: lookups are kept in memory");
      else log.warn("change feed lost: lookups are kept at most 1 s until it is back");
    },
  });
  return {
    get live() {
      return live;
    },
    async close() {
      await unlisten();
      targets.objects.setLive(false);
      targets.caches.setLive(false);
    },
  };
}
