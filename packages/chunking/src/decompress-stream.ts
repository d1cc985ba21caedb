/**
 * Decompression of NARs arriving in Nix's own compression (`nix copy --to` honours the store's
 * `compression` setting; Nix's names: none, xz, bzip2, br, zstd, gzip). Bounded memory; corrupt or
 * truncated input ends in a stream error.
 */
import { PassThrough, type Transform } from "node:stream";
import { createBrotliDecompress, createGunzip, createZstdDecompress } from "node:zlib";
import { ChildProcessTransform } from "./child-process-transform.ts";
import { UnknownCompressionError, ZSTD_OUTPUT_CHUNK } from "./compression-type.ts";

/** Throws `UnknownCompressionError` for names Nix can produce but this package cannot decode. */
export function createDecompressStream(nixCompression: string): Transform {
  switch (nixCompression) {
    case "":
    case "none":
      return new PassThrough();
    case "zstd":
      // Concatenated frames decode as one stream; a truncated one ends in Z_BUF_ERROR.
      return createZstdDecompress({ chunkSize: ZSTD_OUTPUT_CHUNK });
    case "br":
      return createBrotliDecompress();
    case "gzip":
      return createGunzip();
    case "xz":
      return new ChildProcessTransform("xz", ["--decompress", "--stdout"]);
    case "bzip2":
      return new ChildProcessTransform("bzip2", ["--decompress", "--stdout"]);
    default:
      throw new UnknownCompressionError(nixCompression);
  }
}
