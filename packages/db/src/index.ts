/** @garret/db: atticd-compatible schema, migrations and queries over Postgres or SQLite. */

export type { ChangeHandlers, Db, DbConfig, DbTx, Dialect, Orm, SqlSession, Tables } from "./client.ts";
export { createDb, tables } from "./client.ts";
export { parseJsonStringArray } from "./json-text.ts";
export type { MigrateOptions, MigrateResult, Migration } from "./migrate.ts";
export {
  ATTICD_SCHEMA_MIGRATION,
  MigrationError,
  migrate,
  migrationsDir,
  REQUIRED_ATTICD_MIGRATION,
  readMigrations,
} from "./migrate.ts";
export type { CacheSettings } from "./queries/cache-settings.ts";
export { ATTICD_CACHE_SETTINGS, getCacheSettings, setCacheSettings } from "./queries/cache-settings.ts";
export type { CacheStats, LastGcRun } from "./queries/cache-stats.ts";
export { getCacheStats, getLastGcRun } from "./queries/cache-stats.ts";
export type { CacheUpstream } from "./queries/cache-upstreams.ts";
export { getCacheUpstreams, setCacheUpstreams } from "./queries/cache-upstreams.ts";
export type { CachePatch, NewCache } from "./queries/caches.ts";
export { deleteCache, findCache, findSoftDeletedCache, insertCache, updateCache } from "./queries/caches.ts";
export type { LeasedChunk } from "./queries/chunk-batches.ts";
export {
  deleteChunks,
  findAndLockChunks,
  insertPendingChunks,
  validateChunks,
} from "./queries/chunk-batches.ts";
export type { ChunkSessionKey, CommitChunk } from "./queries/chunk-sessions.ts";
export {
  addSessionChunks,
  CHUNK_SESSION_SQL,
  closeChunkSession,
  leaseCommitChunks,
  openChunkSession,
  presentSessionChunks,
  reapStaleChunkSessions,
  touchChunkSession,
} from "./queries/chunk-sessions.ts";
export type { ChunkRefInput, NewPendingChunk } from "./queries/chunks.ts";
export {
  deleteChunk,
  findAndLockChunk,
  hasAnyChunk,
  insertChunkRefs,
  insertPendingChunk,
  lockValidChunks,
  markChunksDamaged,
  releaseChunks,
  validateChunk,
} from "./queries/chunks.ts";
export type { Executor } from "./queries/executor.ts";
export type { GcEstimate, GcRunRecord, Tombstone } from "./queries/gc.ts";
export {
  collectQueuedNars,
  deleteExpiredBatch,
  deleteTombstones,
  dropExpiredSet,
  estimateGarbage,
  GC_BATCH,
  GC_LOCK_KEY,
  GC_SQL,
  lastGcRun,
  listExpiredSet,
  nextTombstones,
  prepareExpiredSet,
  queueFullSweep,
  queueRecentOrphanChunks,
  reapStalePendingNars,
  recordGcRun,
  tombstoneQueuedChunks,
  tombstoneStalePendingChunks,
  tryLockGc,
  unlockGc,
} from "./queries/gc.ts";
export { LEASE_SQL, refreshLeases, resetAbandonedLeases } from "./queries/leases.ts";
export type { NewNar } from "./queries/nars.ts";
export {
  deleteNar,
  findAndLockNar,
  insertNar,
  releaseNar,
  removeFromIndex,
  validateNar,
} from "./queries/nars.ts";
export { deleteObjectByHash } from "./queries/object-deletion.ts";
export type { ObjectForDownload, ObjectWithNar, ServableChunk, UpsertObject } from "./queries/objects.ts";
export {
  bumpLastAccessed,
  findChunksForDownload,
  findObjectForDownload,
  findObjectWithNar,
  getMissingPaths,
  upsertObject,
} from "./queries/objects.ts";
export type { NewPendingUpload, PendingUpload, PendingUploadRow } from "./queries/pending-uploads.ts";
export {
  cacheHasNarHash,
  claimPendingUpload,
  findPendingUpload,
  insertPendingUpload,
} from "./queries/pending-uploads.ts";
export type { PinInput, PinRow } from "./queries/pins.ts";
export { deletePin, findPin, listPins, upsertPin } from "./queries/pins.ts";
export type { CacheListing, RecentObject, StoreTotals } from "./queries/store-overview.ts";
export { listCaches, recentObjects, storeTotals } from "./queries/store-overview.ts";
export type { StoredBytes } from "./queries/stored-bytes.ts";
export { getStoredBytes } from "./queries/stored-bytes.ts";
export type {
  ListTokensOptions,
  NewTokenRecord,
  RevocationSnapshot,
  RevokedSubject,
  TokenOrigin,
  TokenRecord,
} from "./queries/tokens.ts";
export {
  findTokenRecord,
  insertTokenRecord,
  listRevokedSubjects,
  listTokenRecords,
  loadRevocations,
  revokeSubject,
  revokeTokenRecord,
} from "./queries/tokens.ts";
export type { ReservedChunk, WholeChunk, WholeNar } from "./queries/whole-nars.ts";
export { abandonPendingChunk, linkWholeChunk, reserveWholeChunk } from "./queries/whole-nars.ts";
export type { CacheRow, ChunkRefRow, ChunkRow, ChunkState, NarRow, NarState, ObjectRow } from "./schema.ts";
export * as schema from "./schema.ts";
export { CHUNK_STATES, NAR_STATES } from "./schema.ts";
export type { SqliteConfig } from "./sqlite-client.ts";
export { formatSqliteTimestamp } from "./sqlite-values.ts";
export type { TaskRunner } from "./task-runner.ts";
