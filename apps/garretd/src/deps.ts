/**
 * Everything request handling needs, built once per process and passed to `createApp(deps)`.
 * Services receive `deps` as their first argument; nothing reads globals or `process.env`, and
 * what the process keeps between requests lives in `deps.state` (process-state.ts).
 */
import type { ChunkCompressor } from "@garret/chunking";
import type { Db } from "@garret/db";
import type { StorageBackend } from "@garret/storage";
import type { TokenAuthority } from "@garret/token";
import type { Logger } from "./log.ts";
import type { GarretMetrics } from "./metrics/garret-metrics.ts";
import type { AccessRecorder } from "./services/access-recorder.ts";
import type { InFlight } from "./services/in-flight.ts";
import type { IngestMemory } from "./services/ingest-memory.ts";
import type { ProcessState } from "./services/process-state.ts";
import type { PullThrough } from "./services/upstream/pull-through.ts";
import type { ServerSettings } from "./settings.ts";

export interface Deps {
  settings: ServerSettings;
  db: Db;
  storage: StorageBackend;
  tokens: TokenAuthority;
  compressor: ChunkCompressor;
  /** The upload memory pool (`[garret] upload-memory`): segments and compressed chunks of uploads. */
  ingestMemory: IngestMemory;
  /** Uploads being stored, which garretd lets finish before it closes the database. */
  ingests: InFlight;
  log: Logger;
  clock: () => Date;
  /** Everything kept in memory between requests (cache rows, narinfo memo, revocations...). */
  state: ProcessState;
  access: AccessRecorder;
  /** The process's metrics (`GET /metrics`); `storage` is already instrumented with them. */
  metrics: GarretMetrics;
  /** Pull-through from upstream caches (services/upstream/); absent = never contacted. */
  upstream?: PullThrough;
}
