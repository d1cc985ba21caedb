/** @garret/chunking: content-defined chunking (FastCDC, ronomon variant) and compression codecs. */

export {
  type ChunkCompressor,
  type ChunkCompressorOptions,
  createChunkCompressor,
} from "./chunk-compressor.ts";
export { createCompressStream } from "./compress-stream.ts";
export {
  COMPRESSION_TYPES,
  CompressionError,
  type CompressionType,
  defaultCompressionLevel,
  type NixCompressionName,
  nixCompressionName,
  resolveCompressionLevel,
  UnknownCompressionError,
} from "./compression-type.ts";
export { createDecompressStream } from "./decompress-stream.ts";
export {
  CHUNKING_LIMITS,
  type ChunkingParams,
  ChunkingParamsError,
  chunkStream,
  FastCdcChunker,
  validateChunkingParams,
} from "./fastcdc.ts";
export { createWorkerPool, type WorkerPool, type WorkerPoolOptions } from "./worker-pool.ts";
export { isZstdFramesOnly } from "./zstd-frames.ts";
