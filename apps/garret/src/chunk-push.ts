/**
 * Pushing one NAR through garret's chunk-upload extension (docs/chunk-upload.md): the NAR is cut
 * with the server's FastCDC parameters as it streams from `nix-store --dump`; per window of at most
 * one request's bytes the client asks which chunks the cache lacks and uploads only those, in one
 * request, while the next window is read; finally it commits the ordered chunk list. A rerun after
 * an interruption sends only what the server has not acknowledged, because acknowledged chunks stay
 * in the caller's push session on the server.
 */
import { createHash } from "node:crypto";
import { FastCdcChunker } from "@garret/chunking";
import type { UploadPathResult } from "@garret/protocol";
import { CHUNK_FRAME_HEADER_BYTES, type ChunkUploadOffer, type UploadPathNarInfo } from "@garret/protocol";
import type { ApiClient, NarStream } from "./api-client.ts";

export interface ChunkTransfer {
  /** NAR bytes whose chunks were uploaded. */
  sent: number;
  /** NAR bytes the server already had (or that repeat a chunk sent before). */
  skipped: number;
}

export interface ChunkPushResult extends ChunkTransfer {
  result: UploadPathResult;
}

interface Pending {
  hash: string;
  data: Uint8Array;
}

/** Whether this NAR goes through the extension: NARs under the threshold are stored whole. */
export function usesChunkUpload(offer: ChunkUploadOffer | null, narSize: number): offer is ChunkUploadOffer {
  return offer !== null && narSize >= offer.chunking.nar_size_threshold;
}

export async function pushNarChunked(
  client: ApiClient,
  offer: ChunkUploadOffer,
  info: UploadPathNarInfo,
  openNar: () => NarStream,
  onProgress?: (processed: number, transfer: ChunkTransfer) => void,
): Promise<ChunkPushResult> {
  const narHash = info.nar_hash.replace(/^sha256:/, "");
  const transfer: ChunkTransfer = { sent: 0, skipped: 0 };
  const report = () => onProgress?.(transfer.sent + transfer.skipped, { ...transfer });

  const hashes = await sendChunks(client, offer, info.cache, narHash, openNar, transfer, report, null);
  let outcome = await client.commitChunkedNar(info, hashes);
  if ("missing" in outcome) {
    // Chunks the cache referenced when asked but lost since (GC): send them and commit once more.
    await sendChunks(client, offer, info.cache, narHash, openNar, transfer, report, new Set(outcome.missing));
    outcome = await client.commitChunkedNar(info, hashes);
    if ("missing" in outcome) {
      throw new Error(`the server still lacks ${outcome.missing.length} chunk(s) after they were uploaded`);
    }
  }
  return { result: outcome.result, ...transfer };
}

/**
 * One pass over the NAR. Without `only`, each window's chunks are checked against the server and
 * the missing ones uploaded; with it, exactly the chunks in `only` are uploaded. Returns every
 * chunk hash in NAR order.
 */
async function sendChunks(
  client: ApiClient,
  offer: ChunkUploadOffer,
  cache: string,
  narHash: string,
  openNar: () => NarStream,
  transfer: ChunkTransfer,
  report: () => void,
  only: Set<string> | null,
): Promise<string[]> {
  const { min_size, avg_size, max_size } = offer.chunking;
  const chunker = new FastCdcChunker({ minSize: min_size, avgSize: avg_size, maxSize: max_size });
  const hashes: string[] = [];
  /** Chunks asked about or uploaded earlier in this pass. */
  const handled = new Set<string>();
  let window: Pending[] = [];
  let windowBytes = 0;
  let inFlight: Promise<void> | null = null;

  const flush = async () => {
    const current = window;
    window = [];
    windowBytes = 0;
    if (current.length === 0) return;
    // One upload in flight while the next window is read: memory stays within two requests.
    if (inFlight) await inFlight;
    inFlight = null;
    const fresh = [...new Set(current.map((c) => c.hash))].filter((h) => !handled.has(h));
    let wanted: Set<string>;
    if (only) wanted = new Set(fresh.filter((h) => only.has(h)));
    else wanted = new Set(fresh.length > 0 ? await client.missingChunks(cache, narHash, fresh) : []);
    for (const h of fresh) handled.add(h);
    const frames: Uint8Array[] = [];
    for (const c of current) {
      if (wanted.delete(c.hash)) {
        frames.push(c.data);
        transfer.sent += c.data.length;
      } else if (!only) {
        transfer.skipped += c.data.length;
      }
    }
    if (frames.length === 0) {
      report();
      return;
    }
    const upload = client.uploadChunks(cache, narHash, frames).then(report);
    upload.catch(() => {});
    inFlight = upload;
  };

  const add = async (data: Uint8Array) => {
    const hash = createHash("sha256").update(data).digest("hex");
    hashes.push(hash);
    if (windowBytes + CHUNK_FRAME_HEADER_BYTES + data.length > offer.max_request_bytes) await flush();
    window.push({ hash, data });
    windowBytes += CHUNK_FRAME_HEADER_BYTES + data.length;
  };

  const nar = openNar();
  try {
    for await (const piece of nar.body) {
      for (const chunk of chunker.push(piece)) await add(chunk);
    }
    for (const chunk of chunker.finish()) if (chunk.length > 0) await add(chunk);
    await flush();
    if (inFlight) await inFlight;
  } catch (e) {
    nar.cancel();
    throw e;
  }
  return hashes;
}
