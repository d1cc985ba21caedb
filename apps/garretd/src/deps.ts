/**
 * Everything request handling needs, built once per process and passed to `createApp(deps)`.
 * Services receive `deps` as their first argument; nothing reads globals or `process.env`.
 */
import type { ChunkCompressor } from "@garret/chunking";
import type { Db } from "@garret/db";
import type { StorageBackend } from "@garret/storage";
import type { TokenAuthority } from "@garret/token";
import type { Logger } from "./log.ts";
import type { GarretMetrics } from "./metrics/garret-metrics.ts";
import type { AccessRecorder } from "./services/access-recorder.ts";
import type { CacheDirectory } from "./services/cache-directory.ts";
import type { ObjectMemo } from "./services/object-memo.ts";
import type { RevocationList } from "./services/revocations.ts";
import type { PullThrough } from "./services/upstream/pull-through.ts";
import type { ServerSettings } from "./settings.ts";

export interface Deps {
  settings: ServerSettings;
  db: Db;
  storage: StorageBackend;
  tokens: TokenAuthority;
  compressor: ChunkCompressor;
  log: Logger;
  clock: () => Date;
  caches: CacheDirectory;
  /** narinfo rows and texts kept in memory (object-memo.ts). */
  objectMemo: ObjectMemo;
  access: AccessRecorder;
  /** Revoked tokens and subjects, checked after every token verification. */
  revocations: RevocationList;
  /** The process's metrics (`GET /metrics`); `storage` is already instrumented with them. */
  metrics: GarretMetrics;
  /** Pull-through from upstream caches (services/upstream/); absent = never contacted. */
  upstream?: PullThrough;
}
