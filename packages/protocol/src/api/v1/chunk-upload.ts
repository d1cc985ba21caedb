/**
 * garret's chunk-upload extension (docs/chunk-upload.md), shared by garretd and the garret client:
 * the offer, the missing-chunks query, the upload acknowledgement and the commit. Hashes are
 * SHA-256 in 64 lower-case hex digits.
 */
import { z } from "zod";
import { UploadPathNarInfoSchema } from "./upload-path.ts";

export const CHUNK_UPLOAD_PATH = "_api/v1/garret/chunk-upload";
/** Bytes of the big-endian length before each chunk in an upload body. */
export const CHUNK_FRAME_HEADER_BYTES = 4;

const hexHash = z.string().regex(/^[0-9a-f]{64}$/, "must be 64 lower-case hex digits");

export const ChunkUploadOfferSchema = z.object({
  version: z.literal(1),
  max_request_bytes: z.number().int().positive(),
  chunking: z.object({
    nar_size_threshold: z.number().int().min(0),
    min_size: z.number().int().positive(),
    avg_size: z.number().int().positive(),
    max_size: z.number().int().positive(),
  }),
});
export type ChunkUploadOffer = z.infer<typeof ChunkUploadOfferSchema>;

export const MissingChunksRequestSchema = z.object({
  nar_hash: hexHash,
  chunks: z.array(hexHash),
});
export type MissingChunksRequest = z.infer<typeof MissingChunksRequestSchema>;

export interface MissingChunksResponse {
  missing: string[];
}

export interface ChunkUploadAck {
  received: string[];
}

export const CommitChunkedNarRequestSchema = z.object({
  nar_info: UploadPathNarInfoSchema,
  chunks: z.array(hexHash).min(1),
});
export type CommitChunkedNarRequest = z.infer<typeof CommitChunkedNarRequestSchema>;

/** 409 body of a commit naming chunks the cache does not have: upload them, then commit again. */
export interface MissingChunksError {
  code: 409;
  error: "MissingChunks";
  message: string;
  missing: string[];
}
