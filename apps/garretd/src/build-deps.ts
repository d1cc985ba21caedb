/**
 * Builds the process's `Deps`: `assembleDeps` from its parts (what garretd and the tests share),
 * `buildDeps` from a loaded `Config` (database, storage, token authority, then the change feed and
 * store gauges). `close()` releases them in reverse order.
 *
 * garretd's worker pool (`createWorkerPool`) is made first, by its caller, and given both to the
 * database (SQLite's WAL checkpoints run on it) and to the chunk compressor: one set of worker
 * threads for the process, closed after the database.
 */
import { basename, dirname } from "node:path";
import { createChunkCompressor, createWorkerPool, type WorkerPool } from "@garret/chunking";
import { createDb, type Db } from "@garret/db";
import { createStorage, type StorageBackend, type StorageConfig } from "@garret/storage";
import { createTokenAuthority, type TokenAuthority } from "@garret/token";
import type { Config } from "./config/config.ts";
import { tokenKeyConfig } from "./config/config.ts";
import { refuseLegacyPgliteDatabase } from "./config/embedded-database.ts";
import { type DirectoryLock, lockDataDirectory } from "./data-dir-lock.ts";
import type { Deps } from "./deps.ts";
import type { Logger } from "./log.ts";
import { createGarretMetrics } from "./metrics/garret-metrics.ts";
import { instrumentStorage } from "./metrics/instrument-storage.ts";
import { startStoreGauges } from "./metrics/store-gauges.ts";
import { createAccessRecorder } from "./services/access-recorder.ts";
import { startChangeFeed } from "./services/change-feed.ts";
import { createInFlight } from "./services/in-flight.ts";
import { createIngestMemory } from "./services/ingest-memory.ts";
import { createProcessState } from "./services/process-state.ts";
import { createPullThrough } from "./services/upstream/pull-through.ts";
import type { ServerSettings } from "./settings.ts";

export function settingsFromConfig(config: Config): ServerSettings {
  return {
    allowedHosts: config.allowedHosts,
    apiEndpoint: config.apiEndpoint,
    substituterEndpoint: config.substituterEndpoint,
    softDeleteCaches: config.softDeleteCaches,
    requireProofOfPossession: config.requireProofOfPossession,
    maxNarInfoSize: config.maxNarInfoSize,
    chunking: config.chunking,
    compression: config.compression,
    s3Redirect: true,
    chunkUploadMaxRequestBytes: config.garret.chunkUploadMaxRequestBytes,
    uploadConcurrency: 8,
    uploadMemory: { bytes: config.garret.uploadMemoryBytes, waitMs: config.garret.uploadMemoryWaitMs },
    downloadPrefetch: 8,
    leaseRefreshMs: config.garret.gcPendingGraceSeconds * 250,
    oidcPolicies: config.garret.oidc,
    metricsOnMainListener: config.garret.metricsListen === undefined,
    upstream: config.garret.upstream,
  };
}

/** The storage backend's settings from `[storage]`, secrets exposed. */
export function storageConfigFrom(config: Config): StorageConfig {
  return config.storage.type === "local"
    ? { type: "local", path: config.storage.path }
    : {
        type: "s3",
        region: config.storage.region,
        bucket: config.storage.bucket,
        endpoint: config.storage.endpoint,
        requestTimeoutMs: config.garret.storageRequestTimeoutMs,
        credentials: config.storage.credentials && {
          accessKeyId: config.storage.credentials.accessKeyId,
          secretAccessKey: config.storage.credentials.secretAccessKey.expose(),
        },
      };
}

/**
 * Opens an SQLite file, holding its lock until closed; throws DataDirectoryBusyError (naming the
 * holder's pid) while another process holds it, and LegacyEmbeddedDatabaseError for the embedded
 * default when the data directory holds an earlier garret's PGlite database instead.
 */
export async function openLocalDatabase(
  database: Extract<Config["database"], { kind: "sqlite" }>,
  workers?: WorkerPool,
): Promise<Db> {
  if (database.embedded) refuseLegacyPgliteDatabase(database.path);
  if (database.path === ":memory:") return createDb({ kind: "sqlite", path: ":memory:" });
  const lock = lockDataDirectory(dirname(database.path), {
    lockName: `${basename(database.path)}.garretd.lock`,
    what: `the SQLite database ${database.path}`,
  });
  return withLock(lock, () =>
    createDb({ kind: "sqlite", path: database.path, mode: database.mode, ...(workers && { workers }) }),
  );
}

async function withLock(lock: DirectoryLock, open: () => Promise<Db>): Promise<Db> {
  try {
    const db = await open();
    return {
      ...db,
      async close() {
        try {
          await db.close();
        } finally {
          lock.release();
        }
      },
    };
  } catch (err) {
    lock.release();
    throw err;
  }
}

/** garretd's database; an SQLite file's WAL checkpoints run on `workers`. */
export async function openDatabase(config: Config, log: Logger, workers: WorkerPool): Promise<Db> {
  if (config.database.kind === "sqlite") return openLocalDatabase(config.database, workers);
  return createDb({
    kind: "postgres",
    url: config.database.url.expose(),
    onConnectionError: (err) => log.warn("database connection lost", { err }),
  });
}

/** What `assembleDeps` is given; everything else in `Deps` is built from it, the same way for garretd and tests. */
export interface DepsParts {
  settings: ServerSettings;
  db: Db;
  /** The backend as configured; instrumented here. */
  storage: StorageBackend;
  tokens: TokenAuthority;
  log: Logger;
  /** The process's worker pool, closed by its owner; without it, one is made here and closed with the rest. */
  workers?: WorkerPool;
  /** Worker threads of the pool made here (default: one per core). */
  compressionThreads?: number;
  revocationRefreshMs?: number;
  /** Cache rows kept while the change feed is down; 0 = read every time. */
  cacheTtlMs?: number;
  accessFlushMs?: number;
}

/** How long closing waits for uploads still being stored. */
const INGESTS_SETTLE_MS = 30_000;

export function assembleDeps(parts: DepsParts): Deps & { close(): Promise<void> } {
  const { settings, db, log } = parts;
  const metrics = createGarretMetrics();
  const workers = parts.workers ?? createWorkerPool({ threads: parts.compressionThreads });
  const compressor = createChunkCompressor({
    type: settings.compression.type,
    level: settings.compression.level,
    pool: workers,
  });
  const access = createAccessRecorder(
    db,
    log,
    parts.accessFlushMs !== undefined ? { intervalMs: parts.accessFlushMs } : undefined,
  );
  const state = createProcessState(db, log, {
    cacheTtlMs: parts.cacheTtlMs,
    revocationRefreshMs: parts.revocationRefreshMs,
  });
  const deps: Deps = {
    settings,
    db,
    storage: instrumentStorage(parts.storage, metrics),
    tokens: parts.tokens,
    compressor,
    ingests: createInFlight(),
    ingestMemory: createIngestMemory({
      bytes: settings.uploadMemory.bytes,
      waitMs: settings.uploadMemory.waitMs,
      maxChunkSize: settings.chunking.maxSize,
      // Two uploads per compression worker keep every worker busy (one compressing while the other is stored).
      promptLanes: 2 * workers.threads,
      observe(usage) {
        metrics.uploadMemoryBytes.set(usage.bytes);
        metrics.uploadMemoryHolders.set(usage.held);
        metrics.uploadMemoryWaiting.set(usage.waiting);
      },
    }),
    log,
    clock: () => new Date(),
    state,
    access,
    metrics,
  };
  deps.upstream = createPullThrough(deps, settings.upstream);
  return {
    ...deps,
    async close() {
      // Uploads whose clients went away still give back their chunks (services/in-flight.ts).
      if (!(await deps.ingests.settled(INGESTS_SETTLE_MS))) {
        log.warn("closing with uploads still being stored; their chunks wait for gc-pending-grace");
      }
      state.close();
      await access.close();
      await compressor.close();
      if (!parts.workers) await workers.close();
    },
  };
}

export async function buildDeps(
  config: Config,
  db: Db,
  log: Logger,
  workers: WorkerPool,
): Promise<Deps & { close(): Promise<void> }> {
  const tokens = await createTokenAuthority(tokenKeyConfig(config.jwt.signing), {
    issuer: config.jwt.boundIssuer,
    audiences: config.jwt.boundAudiences,
  });
  const deps = assembleDeps({
    settings: settingsFromConfig(config),
    db,
    storage: await createStorage(storageConfigFrom(config)),
    tokens,
    log,
    workers,
    revocationRefreshMs: config.garret.revocationRefreshMs,
  });
  try {
    // Serve no request before the first load, so a revoked token never works after a restart.
    await deps.state.revocations.refresh();
  } catch (err) {
    await deps.close();
    throw err;
  }
  const storeGauges = startStoreGauges(db, deps.metrics, log, config.garret.metricsRefreshMs);
  const changeFeed = await startChangeFeed(db, deps.state, log, deps.metrics);
  return {
    ...deps,
    async close() {
      await changeFeed.close();
      await storeGauges.close();
      await deps.close();
    },
  };
}
