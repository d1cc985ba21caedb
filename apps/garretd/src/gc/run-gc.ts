/**
 * One garbage-collection run: atticd's three phases (attic `server/src/gc.rs`) made closure-aware,
 * incremental and crash-safe:
 *   1. expire objects older than their cache's retention (by `created_at` and `last_accessed_at`;
 *      effective retention 0 keeps forever; soft-deleted caches included), except pinned closures
 *      and, in caches with closure retention, whatever a kept object references;
 *   2. reset upload leases (`holders_count`) last taken more than the grace period ago (their
 *      uploads died with their process); delete NARs that lost their last object (queued by
 *      triggers) and nobody holds, and NARs left pending by uploads that died more than the grace
 *      period ago;
 *   3. tombstone (`D`) chunks that lost their last NAR or were stored by a failed upload, and stale
 *      pending chunks; delete their files; delete the rows whose files are gone. Failed deletions
 *      stay `D` and are retried on the next run.
 * Only one collector runs at a time across replicas (a session advisory lock; a second one skips).
 * Each run logs one summary line; a dry run changes nothing and reports what would go.
 */
import type { Db, SqlSession } from "@garret/db";
import {
  collectQueuedNars,
  deleteExpiredBatch,
  deleteTombstones,
  dropExpiredSet,
  estimateGarbage,
  lastGcRun,
  listExpiredSet,
  nextTombstones,
  prepareExpiredSet,
  queueFullSweep,
  queueRecentOrphanChunks,
  reapStaleChunkSessions,
  reapStalePendingNars,
  recordGcRun,
  resetAbandonedLeases,
  tombstoneQueuedChunks,
  tombstoneStalePendingChunks,
  tryLockGc,
  unlockGc,
} from "@garret/db";
import { parseRemoteFile, type StorageBackend } from "@garret/storage";
import type { Logger } from "../log.ts";

const STORAGE_DELETE_CONCURRENCY = 20;
/** Store paths a dry run lists. */
const DRY_RUN_LIST_LIMIT = 10_000;

export interface GcOptions {
  /** Seconds; 0 = keep forever unless a cache sets its own retention period. */
  defaultRetentionSeconds: number;
  /** Pending rows younger than this belong to uploads that may still be running. */
  pendingGraceSeconds: number;
  now: Date;
  /** Report what would be deleted; change nothing. */
  dryRun?: boolean;
  /** Examine every NAR and chunk, not only queued and recent ones (the first run always does). */
  fullSweep?: boolean;
  /**
   * Called after each batch of deleted objects, so this process's narinfo memo forgets at once
   * rather than when the change notification arrives.
   */
  onObjectsDeleted?: () => void;
}

export interface GcSummary {
  /** False when another collector held the lock and this run did nothing. */
  ran: boolean;
  dryRun: boolean;
  fullSweep: boolean;
  objects: number;
  nars: number;
  chunks: number;
  bytes: number;
  failedDeletions: number;
  ms: number;
  /** Time spent per phase, for the log line's fields. */
  phaseMs?: Record<string, number>;
  /** Dry runs only: the store paths that would be deleted (at most 10,000). */
  paths?: Array<{ cache: string; storePath: string }>;
}

export async function runGarbageCollection(
  db: Db,
  storage: StorageBackend,
  log: Logger,
  opts: GcOptions,
): Promise<GcSummary> {
  const started = performance.now();
  const dryRun = opts.dryRun ?? false;
  const result = await db.withSession(async (session) => {
    if (!(await tryLockGc(session))) return null;
    const postgres = session.dialect === "postgres";
    let ok = false;
    try {
      // Every statement is bounded by its batch, but a first sweep or a cache whose whole content
      // expires at once can outlast the pool's statement timeout. JIT compilation costs far more
      // than the short batches it would speed up (0.5 s per 1000-row batch against 30 ms of work).
      if (postgres) await session.exec("SET statement_timeout = 0; SET jit = off");
      const collected = await collect(session, storage, log, opts);
      ok = true;
      return collected;
    } finally {
      const release = dropExpiredSet(session)
        .then(() => (postgres ? session.exec("RESET statement_timeout; RESET jit") : undefined))
        .then(() => unlockGc(session));
      // After a failure the session is discarded (which drops both); keep the original error.
      await (ok ? release : release.catch(() => undefined));
    }
  });
  const ms = Math.round(performance.now() - started);
  if (!result) {
    log.info("garbage collection skipped: another collector holds the lock");
    return {
      ran: false,
      dryRun,
      fullSweep: false,
      objects: 0,
      nars: 0,
      chunks: 0,
      bytes: 0,
      failedDeletions: 0,
      ms,
    };
  }
  const summary: GcSummary = { ran: true, dryRun, ...result, ms };
  const { paths: _paths, ...fields } = summary;
  log.info(
    dryRun
      ? `garbage collection (dry run): would delete ${summary.objects} objects, ${summary.nars} NARs, ${summary.chunks} chunks, ${summary.bytes} bytes; looked in ${ms} ms`
      : `garbage collection: deleted ${summary.objects} objects, ${summary.nars} NARs, ${summary.chunks} chunks, ${summary.bytes} bytes in ${ms} ms`,
    { gc: fields },
  );
  return summary;
}

type CollectResult = Omit<GcSummary, "ran" | "dryRun" | "ms">;

async function collect(
  session: SqlSession,
  storage: StorageBackend,
  log: Logger,
  opts: GcOptions,
): Promise<CollectResult> {
  const startedAt = opts.now;
  const t0 = performance.now();
  const graceMs = opts.pendingGraceSeconds * 1000;
  const pendingCutoff = new Date(startedAt.getTime() - graceMs);
  const previous = await lastGcRun(session);
  const fullSweep = opts.fullSweep === true || previous === null;
  // Chunks of failed uploads: anything created since the previous run started, with the grace
  // period as margin for uploads that were still holding them then.
  const orphanChunksSince = fullSweep ? new Date(0) : new Date(previous.startedAt.getTime() - graceMs);

  const phaseMs: Record<string, number> = {};
  let mark = performance.now();
  const phase = (name: string) => {
    const t = performance.now();
    phaseMs[name] = Math.round(t - mark);
    mark = t;
  };
  const expired = await prepareExpiredSet(session, {
    now: opts.now,
    defaultRetentionSeconds: opts.defaultRetentionSeconds,
  });
  phase("expiredSet");

  if (opts.dryRun) {
    const estimate = await estimateGarbage(session, { orphanChunksSince, pendingCutoff, fullSweep });
    return {
      fullSweep,
      objects: expired,
      ...estimate,
      failedDeletions: 0,
      paths: await listExpiredSet(session, DRY_RUN_LIST_LIMIT),
    };
  }

  let objects = 0;
  for (;;) {
    const batch = await deleteExpiredBatch(session);
    if (batch.deleted > 0) opts.onObjectsDeleted?.();
    objects += batch.deleted;
    if (batch.done) break;
  }
  phase("objects");

  // Leases of uploads that died (process killed) would otherwise keep their rows forever.
  // Push sessions of the chunk-upload API untouched as long: their leases are reset just below.
  const sessions = await reapStaleChunkSessions(session, pendingCutoff);
  if (sessions > 0) log.info("removed abandoned chunk-upload sessions", { sessions });
  const leases = await resetAbandonedLeases(session, pendingCutoff);
  if (leases.nars + leases.chunks > 0) log.warn("reset upload leases older than the grace period", leases);
  if (fullSweep) await queueFullSweep(session);
  phase("sweep");
  let nars = await collectQueuedNars(session);
  nars += await reapStalePendingNars(session, pendingCutoff);
  phase("nars");

  if (!fullSweep) await queueRecentOrphanChunks(session, orphanChunksSince);
  await tombstoneQueuedChunks(session);
  await tombstoneStalePendingChunks(session, pendingCutoff);
  phase("tombstones");
  const files = await deleteTombstonedFiles(session, storage, log);
  // Half-written files of killed uploads, which no chunk row names.
  const abandoned = (await storage.removeAbandonedWrites?.(pendingCutoff)) ?? 0;
  if (abandoned > 0) log.info("removed temporary files of abandoned writes", { files: abandoned });
  phase("files");

  const finishedAt = new Date(startedAt.getTime() + Math.round(performance.now() - t0));
  await recordGcRun(session, { startedAt, finishedAt, fullSweep, objects, nars, ...files });
  return { fullSweep, objects, nars, ...files, phaseMs };
}

/** Deletes the files of `D` chunks, then the rows of those whose file is gone. */
async function deleteTombstonedFiles(
  session: SqlSession,
  storage: StorageBackend,
  log: Logger,
): Promise<{ chunks: number; bytes: number; failedDeletions: number }> {
  let chunks = 0;
  let bytes = 0;
  let failedDeletions = 0;
  let afterId = 0;
  for (;;) {
    const batch = await nextTombstones(session, afterId);
    if (batch.length === 0) break;
    afterId = batch[batch.length - 1]?.id ?? afterId;
    const deleted: number[] = [];
    let next = 0;
    const worker = async () => {
      for (let row = batch[next++]; row; row = batch[next++]) {
        try {
          await storage.delete(parseRemoteFile(row.remoteFile));
          deleted.push(row.id);
          bytes += row.fileSize;
        } catch (err) {
          failedDeletions++;
          log.warn("failed to delete a chunk file; the next run retries", { err, chunkId: row.id });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(STORAGE_DELETE_CONCURRENCY, batch.length) }, worker));
    await deleteTombstones(session, deleted);
    chunks += deleted.length;
  }
  return { chunks, bytes, failedDeletions };
}
