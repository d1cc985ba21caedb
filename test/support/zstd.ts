/** zstd decompression for tests (Node 20's zlib has none): multi-frame input decodes as one stream. */
import { decompress } from "zstd-napi";

export function zstdDecompressSync(data: Uint8Array): Buffer {
  return decompress(Buffer.from(data));
}
