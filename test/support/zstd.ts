/** zstd decompression for tests: multi-frame input decodes as one stream. */
import { zstdDecompressSync as decompress } from "node:zlib";

export function zstdDecompressSync(data: Uint8Array): Buffer {
  return decompress(data);
}
