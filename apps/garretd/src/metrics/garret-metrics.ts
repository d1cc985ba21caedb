/**
 * garretd's metrics, one set per process (`createGarretMetrics()`), exposed at `GET /metrics`.
 * Labels never carry cache names, store paths, subjects or tokens: route patterns only, so the
 * series count stays bounded and the page reveals nothing a cache owner would hide.
 *
 * Dedup ratio: `garret_upload_received_bytes_total / garret_storage_written_bytes_total` over a
 * window is how many bytes clients sent per byte that reached storage (chunk dedup + compression).
 * The store-wide ratio is `garret_store_object_nar_bytes / garret_store_stored_bytes`.
 */
import type { GcSummary } from "../gc/run-gc.ts";
import { MetricsRegistry } from "./registry.ts";

/** Seconds; from a fast narinfo hit to a large NAR transfer. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

export type ErrorSource = "database" | "storage" | "other";

export function createGarretMetrics() {
  const registry = new MetricsRegistry();
  const metrics = {
    registry,
    httpRequests: registry.counter(
      "garret_http_requests_total",
      "HTTP requests served, by route pattern, method and status.",
      ["route", "method", "status"],
    ),
    httpDuration: registry.histogram(
      "garret_http_request_duration_seconds",
      "Time from receiving a request to the end of its response, by route pattern and method.",
      LATENCY_BUCKETS,
      ["route", "method"],
    ),
    httpBytesIn: registry.counter(
      "garret_http_request_bytes_total",
      "Request body bytes received, by route pattern.",
      ["route"],
    ),
    httpBytesOut: registry.counter(
      "garret_http_response_bytes_total",
      "Response body bytes sent, by route pattern.",
      ["route"],
    ),
    httpInFlight: registry.gauge("garret_http_requests_in_flight", "HTTP requests being handled now."),
    changeFeedLive: registry.gauge(
      "garret_change_feed_live",
      "1 while database change notifications flow, so lookups are kept in memory; 0 while they are kept at most 1 s.",
    ),
    uploadsInProgress: registry.gauge(
      "garret_uploads_in_progress",
      "NAR uploads being received now (attic upload-path and nix copy PUTs): the upload queue depth.",
    ),
    uploadMemoryBytes: registry.gauge(
      "garret_upload_memory_bytes",
      "Bytes of the upload memory pool allocated now (at most [garret] upload-memory; none while idle).",
    ),
    uploadMemoryHolders: registry.gauge(
      "garret_upload_memory_uploads",
      "Uploads holding a share of the upload memory now (NARs being chunked).",
    ),
    uploadMemoryWaiting: registry.gauge(
      "garret_upload_memory_waiting",
      "Uploads waiting for a share of the upload memory now (refused with 503 after upload-memory-wait).",
    ),
    uploadReceivedBytes: registry.counter(
      "garret_upload_received_bytes_total",
      "Bytes received in NAR upload request bodies.",
    ),
    storageWrittenBytes: registry.counter(
      "garret_storage_written_bytes_total",
      "Bytes written to storage (compressed chunks after deduplication).",
    ),
    storageReadBytes: registry.counter(
      "garret_storage_read_bytes_total",
      "Bytes read from storage through garretd (presigned redirects excluded).",
    ),
    storageOps: registry.counter("garret_storage_operations_total", "Storage operations, by operation.", [
      "op",
    ]),
    storageErrors: registry.counter(
      "garret_storage_errors_total",
      "Failed storage operations (missing objects excluded), by operation.",
      ["op"],
    ),
    requestErrors: registry.counter(
      "garret_request_errors_total",
      "Requests that failed inside garretd (5xx), by the failing dependency: database, storage or other.",
      ["source"],
    ),
    upstreamLookups: registry.counter(
      "garret_upstream_narinfo_lookups_total",
      "narinfo misses looked up in upstream caches, by result: hit, miss (no upstream has it), rejected (no trusted signature), failed (upstream down, slow or broken), cached (a remembered miss).",
      ["result"],
    ),
    upstreamNarFetches: registry.counter(
      "garret_upstream_nar_fetches_total",
      "NARs fetched from upstream caches, by result: stored, linked (the NAR was already stored), rejected (hash or size mismatch, bad NAR), failed (upstream or limits).",
      ["result"],
    ),
    upstreamBytes: registry.counter(
      "garret_upstream_received_bytes_total",
      "Compressed NAR bytes received from upstream caches.",
    ),
    upstreamFetchesInFlight: registry.gauge(
      "garret_upstream_nar_fetches_in_flight",
      "Upstream NAR fetches running now.",
    ),
    gcRuns: registry.counter(
      "garret_gc_runs_total",
      "Garbage collections started by this process, by result: ran, skipped (another collector held the lock), failed.",
      ["result"],
    ),
    gcDeleted: registry.counter(
      "garret_gc_deleted_total",
      "What garbage collection in this process deleted, by kind: object, nar, chunk.",
      ["kind"],
    ),
    gcFreedBytes: registry.counter(
      "garret_gc_freed_bytes_total",
      "Storage bytes freed by garbage collection in this process.",
    ),
    gcDuration: registry.histogram(
      "garret_gc_duration_seconds",
      "Duration of garbage-collection runs in this process.",
      [0.1, 1, 10, 60, 300, 1800, 3600],
    ),
    storeNars: registry.gauge("garret_store_nars", "Valid NARs in the database (refreshed periodically)."),
    storeChunks: registry.gauge(
      "garret_store_chunks",
      "Valid chunks in the database (refreshed periodically).",
    ),
    storeObjects: registry.gauge("garret_store_objects", "Objects (store paths in caches) in the database."),
    storeCaches: registry.gauge("garret_store_caches", "Caches that are not deleted."),
    storeNarBytes: registry.gauge(
      "garret_store_nar_bytes",
      "Uncompressed size of all valid NARs, each once.",
    ),
    storeObjectNarBytes: registry.gauge(
      "garret_store_object_nar_bytes",
      "Uncompressed NAR bytes summed over objects: what the caches hold before any deduplication.",
    ),
    storeStoredBytes: registry.gauge(
      "garret_store_stored_bytes",
      "Bytes the valid chunks occupy in storage (compressed, each chunk once).",
    ),
    storeLastGcFinished: registry.gauge(
      "garret_store_last_gc_finished_timestamp_seconds",
      "When the last recorded garbage collection (by any collector) finished; 0 when none has.",
    ),
    storeRefreshed: registry.gauge(
      "garret_store_stats_refreshed_timestamp_seconds",
      "When the garret_store_* gauges were last refreshed.",
    ),
    recordGc(summary: GcSummary): void {
      if (!summary.ran) {
        metrics.gcRuns.inc({ result: "skipped" });
        return;
      }
      metrics.gcRuns.inc({ result: "ran" });
      if (summary.dryRun) return;
      metrics.gcDeleted.inc({ kind: "object" }, summary.objects);
      metrics.gcDeleted.inc({ kind: "nar" }, summary.nars);
      metrics.gcDeleted.inc({ kind: "chunk" }, summary.chunks);
      metrics.gcFreedBytes.inc(summary.bytes);
      metrics.gcDuration.observe(summary.ms / 1000);
    },
    recordGcFailure(): void {
      metrics.gcRuns.inc({ result: "failed" });
    },
  };
  return metrics;
}

export type GarretMetrics = ReturnType<typeof createGarretMetrics>;
