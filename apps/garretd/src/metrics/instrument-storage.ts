/**
 * Wraps a storage backend so every operation is counted in the metrics: operations and failures by
 * operation, bytes written, and bytes read through garretd. Missing objects are answers, not
 * failures, so `notFound` errors are not counted as errors. Streams are counted as they flow, which
 * adds one listener per stream and no copies.
 */
import type { Readable } from "node:stream";
import type { BatchReadOptions, RemoteFile, StorageBackend } from "@garret/storage";
import type { GarretMetrics } from "./garret-metrics.ts";

export function instrumentStorage(inner: StorageBackend, metrics: GarretMetrics): StorageBackend {
  const track = async <T>(op: string, run: () => Promise<T>): Promise<T> => {
    metrics.storageOps.inc({ op });
    try {
      return await run();
    } catch (err) {
      if (!(err instanceof Error && (err as { notFound?: unknown }).notFound === true)) {
        metrics.storageErrors.inc({ op });
      }
      throw err;
    }
  };
  const countReads = (stream: Readable): Readable => {
    stream.on("data", (chunk: Uint8Array) => metrics.storageReadBytes.inc(chunk.length));
    return stream;
  };
  return {
    kind: inner.kind,
    locate: (name) => inner.locate(name),
    put: (name, body) =>
      track("put", async () => {
        await inner.put(name, body);
        metrics.storageWrittenBytes.inc(body.length);
      }),
    putStream: (name, body) =>
      track("putStream", async () => {
        const result = await inner.putStream(name, body);
        metrics.storageWrittenBytes.inc(result.size);
        return result;
      }),
    get: (file: RemoteFile) => track("get", async () => countReads(await inner.get(file))),
    getBuffer: (file, expectedSize) =>
      track("getBuffer", async () => {
        const buf = await inner.getBuffer(file, expectedSize);
        metrics.storageReadBytes.inc(buf.length);
        return buf;
      }),
    ...(inner.readConcatenated && {
      readConcatenated: (files: RemoteFile[], expectedBytes?: number, opts?: BatchReadOptions) =>
        track("readConcatenated", async () => {
          const buf = (await inner.readConcatenated?.(files, expectedBytes, opts)) as Buffer;
          metrics.storageReadBytes.inc(buf.length);
          return buf;
        }),
    }),
    ...(inner.recycle && { recycle: (buffer: Uint8Array) => inner.recycle?.(buffer) }),
    exists: (file) => track("exists", () => inner.exists(file)),
    sizeOf: (file) => track("sizeOf", () => inner.sizeOf(file)),
    delete: (file) => track("delete", () => inner.delete(file)),
    presign: (file, seconds) => track("presign", () => inner.presign(file, seconds)),
    check: () => track("check", () => inner.check()),
    anyObjectName: () => track("anyObjectName", () => inner.anyObjectName()),
    ...(inner.removeAbandonedWrites && {
      removeAbandonedWrites: (olderThan: Date) =>
        track("removeAbandonedWrites", async () => (await inner.removeAbandonedWrites?.(olderThan)) ?? 0),
    }),
  };
}
