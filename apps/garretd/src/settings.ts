/**
 * The part of the configuration that request handling reads. `deps.ts` derives it from the loaded
 * `Config`; tests build it directly with `testSettings()`.
 */
import type { CompressionType } from "@garret/chunking";
import { GARRET_DEFAULTS, type OidcPolicy, type UpstreamPolicy } from "./config/garret-config.ts";

export interface ServerSettings {
  allowedHosts: string[];
  apiEndpoint?: string;
  substituterEndpoint?: string;
  softDeleteCaches: boolean;
  requireProofOfPossession: boolean;
  maxNarInfoSize: number;
  chunking: { narSizeThreshold: number; minSize: number; avgSize: number; maxSize: number };
  compression: { type: CompressionType; level?: number };
  /** Redirect single-chunk NAR downloads to a presigned S3 URL, as atticd does. */
  s3Redirect: boolean;
  /** Body limit of one chunk-upload API request; the API is off when a largest chunk does not fit. */
  chunkUploadMaxRequestBytes: number;
  /** Chunk uploads (compress + store) in flight per upload request. */
  uploadConcurrency: number;
  /** `[garret] upload-memory` (bytes) and `upload-memory-wait` (how long an upload waits for it before a 503). */
  uploadMemory: { bytes: number; waitMs: number };
  /** Chunks fetched ahead while streaming a NAR download. */
  downloadPrefetch: number;
  /** How often an upload receiving bytes refreshes its leases: a quarter of `gc-pending-grace`. */
  leaseRefreshMs: number;
  /** `[[garret.oidc]]` trust policies for `/_api/v1/oidc/exchange`; none = exchange disabled. */
  oidcPolicies?: OidcPolicy[];
  /** Serve `GET /metrics` on the main listener (false when `[garret] metrics-listen` is set). Default true. */
  metricsOnMainListener?: boolean;
  /** How long `/readyz` waits for the database and for storage. Default 5000. */
  readinessTimeoutMs?: number;
  /** `[garret.upstream]`: pull-through timeouts, limits and the default upstreams. */
  upstream?: UpstreamPolicy;
}

export function testSettings(overrides: Partial<ServerSettings> = {}): ServerSettings {
  return {
    allowedHosts: [],
    softDeleteCaches: false,
    requireProofOfPossession: true,
    maxNarInfoSize: 1_048_576,
    chunking: { narSizeThreshold: 65_536, minSize: 16_384, avgSize: 65_536, maxSize: 262_144 },
    compression: { type: "zstd" },
    s3Redirect: true,
    chunkUploadMaxRequestBytes: 32 * 1024 * 1024,
    uploadConcurrency: 8,
    uploadMemory: { bytes: GARRET_DEFAULTS.uploadMemoryBytes, waitMs: GARRET_DEFAULTS.uploadMemoryWaitMs },
    downloadPrefetch: 8,
    leaseRefreshMs: 6 * 3600 * 250,
    ...overrides,
  };
}
