/**
 * Whole-stream compression for a NAR stored as one chunk (`nar-size-threshold = 0` or a NAR above
 * the buffering limit): bounded memory, codec CPU kept off the event loop (zstd and brotli on
 * libuv's pool through node:zlib, xz in a child process).
 */
import { PassThrough, type Transform } from "node:stream";
import { constants, createBrotliCompress, createZstdCompress } from "node:zlib";
import { ChildProcessTransform } from "./child-process-transform.ts";
import { type CompressionType, resolveCompressionLevel, ZSTD_OUTPUT_CHUNK } from "./compression-type.ts";

export function createCompressStream(type: CompressionType, level?: number): Transform {
  const effective = resolveCompressionLevel(type, level);
  switch (type) {
    case "none":
      return new PassThrough();
    case "zstd":
      return createZstdCompress({
        params: { [constants.ZSTD_c_compressionLevel]: effective },
        chunkSize: ZSTD_OUTPUT_CHUNK,
      });
    case "brotli":
      return createBrotliCompress({ params: { [constants.BROTLI_PARAM_QUALITY]: effective } });
    case "xz":
      return new ChildProcessTransform("xz", ["--compress", "--stdout", `-${effective}`]);
  }
}
