/**
 * One garbage collection with the settings of a loaded configuration, counted in the metrics: the
 * entry point shared by garretd's GC modes and `garretadm gc`.
 */
import type { Db } from "@garret/db";
import type { StorageBackend } from "@garret/storage";
import type { Config } from "../config/config.ts";
import { type GcSummary, runGarbageCollection } from "../gc/run-gc.ts";
import type { Logger } from "../log.ts";
import type { GarretMetrics } from "../metrics/garret-metrics.ts";
import type { ProcessState } from "../services/process-state.ts";

export async function runConfiguredGc(
  config: Config,
  deps: { db: Db; storage: StorageBackend; log: Logger; metrics?: GarretMetrics; state?: ProcessState },
  opts: { dryRun?: boolean; now?: Date } = {},
): Promise<GcSummary> {
  try {
    const summary = await runGarbageCollection(deps.db, deps.storage, deps.log, {
      defaultRetentionSeconds: config.garbageCollection.defaultRetentionPeriodSeconds,
      pendingGraceSeconds: config.garret.gcPendingGraceSeconds,
      now: opts.now ?? new Date(),
      dryRun: opts.dryRun ?? false,
      onObjectsDeleted: () => deps.state?.objectsChanged(),
    });
    deps.metrics?.recordGc(summary);
    return summary;
  } catch (err) {
    deps.metrics?.recordGcFailure();
    throw err;
  }
}
