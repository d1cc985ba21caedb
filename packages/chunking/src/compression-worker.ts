/**
 * Piscina worker for `createChunkCompressor`: compresses one chunk per task into one independent
 * stream (zstd frame, brotli stream, xz stream). xz has no binding in Node, so it runs the `xz`
 * program synchronously, which blocks only this worker.
 */
import { spawnSync } from "node:child_process";
import { brotliCompressSync, constants, zstdCompressSync } from "node:zlib";
import { move } from "piscina";
import { ZSTD_OUTPUT_CHUNK } from "./compression-type.ts";

export interface CompressTask {
  type: "zstd" | "brotli" | "xz";
  level: number;
  data: Uint8Array;
}

function zstdCompress(data: Uint8Array, level: number): Uint8Array {
  return zstdCompressSync(data, {
    params: { [constants.ZSTD_c_compressionLevel]: level },
    // The frame header records the size, as ZSTD_compress2 does.
    pledgedSrcSize: data.length,
    chunkSize: ZSTD_OUTPUT_CHUNK,
  });
}

function xzCompress(data: Uint8Array, level: number): Uint8Array {
  const result = spawnSync("xz", ["--compress", "--stdout", `-${level}`, "--threads=1"], {
    input: data,
    maxBuffer: 2 * data.length + 65_536,
  });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    throw new Error(`xz exited with ${result.status ?? result.signal}: ${result.stderr.toString().trim()}`);
  }
  return result.stdout;
}

function compressWith(task: CompressTask): Uint8Array {
  switch (task.type) {
    case "zstd":
      return zstdCompress(task.data, task.level);
    case "brotli":
      return brotliCompressSync(task.data, {
        params: {
          [constants.BROTLI_PARAM_QUALITY]: task.level,
          [constants.BROTLI_PARAM_SIZE_HINT]: task.data.length,
        },
      });
    case "xz":
      return xzCompress(task.data, task.level);
  }
}

/** Task entry point (`name: "compressChunk"`); the result's buffer is transferred, not copied. */
export function compressChunk(task: CompressTask): unknown {
  const out = compressWith(task);
  // Small Buffers live in a shared pool and big ones may be oversized: only an exactly sized
  // ArrayBuffer may be transferred.
  const exact = out.byteOffset === 0 && out.byteLength === out.buffer.byteLength ? out : new Uint8Array(out);
  return move(exact);
}
