/**
 * Whole-stream compression for a NAR stored as one chunk (`nar-size-threshold = 0` or a NAR above
 * the buffering limit): bounded memory, codec CPU kept off the event loop (brotli on libuv's pool,
 * xz in a child process, zstd fed to the native encoder in slices that yield between them).
 */
import { PassThrough, type Transform } from "node:stream";
import { constants, createBrotliCompress } from "node:zlib";
import { ChildProcessTransform } from "./child-process-transform.ts";
import { type CompressionType, resolveCompressionLevel } from "./compression-type.ts";
import { ZstdCompressStream } from "./zstd-stream.ts";

export function createCompressStream(type: CompressionType, level?: number): Transform {
  const effective = resolveCompressionLevel(type, level);
  switch (type) {
    case "none":
      return new PassThrough();
    case "zstd":
      return new ZstdCompressStream(effective);
    case "brotli":
      return createBrotliCompress({ params: { [constants.BROTLI_PARAM_QUALITY]: effective } });
    case "xz":
      return new ChildProcessTransform("xz", ["--compress", "--stdout", `-${effective}`]);
  }
}
