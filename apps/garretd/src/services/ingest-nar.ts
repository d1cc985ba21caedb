/**
 * The one ingest pipeline: every NAR garret stores, whoever sends it (the attic API, `nix copy
 * --to`, an upstream cache), goes through `ingestNar`. The callers only frame: they turn their
 * request into a stream of uncompressed NAR bytes, say what they were told about it, and say what
 * the stored NAR becomes (`commit`). Here, once:
 *
 * 1. NAR-level dedup: with a claimed hash, a valid NAR with that hash is leased and reused (with
 *    proof of possession the bytes must still hash to it; nothing new is stored).
 * 2. Hashing and NAR validation of every byte; a claim is checked as soon as the bytes exceed it.
 * 3. The chunking policy (`narChunking`): content-defined chunks from `nar-size-threshold` on,
 *    the NAR kept whole below it, and always whole when chunks cannot be concatenated (brotli)
 *    or chunking is off (threshold 0). Whole NARs are buffered up to 16 MiB, then streamed.
 * 4. Chunk storage (chunk-store.ts): dedup by hash and compression, compression off the main
 *    thread, leases on every chunk used. A buffered NAR kept whole (most of a closure) takes no
 *    lease: its one chunk is found or reserved as a pending row, and the commit links it
 *    (whole-nars.ts in @garret/db): one statement before the file is written, one transaction after.
 *    When its sender already compressed it as garret would (zstd; `senderFileFor`), the sender's
 *    file is that chunk's file: it is not compressed again.
 *    A NAR being chunked holds a lane of the process's upload memory (ingest-memory.ts) from its
 *    first segment to its end, or gets a 503 when none frees up.
 * 5. One transaction: the NAR row (`V`, or `P` for a NAR waiting for its narinfo) and its chunk
 *    refs, plus whatever the caller's `commit` writes (the object, a pending upload).
 * 6. Leases are refreshed while the upload runs (upload-leases.ts), released at the end and, on
 *    failure, what was written is removed (or left to GC).
 */
import { createHash } from "node:crypto";
import { type ChunkingParams, isZstdFramesOnly, nixCompressionName } from "@garret/chunking";
import {
  type Executor,
  findAndLockNar,
  insertNar,
  linkWholeChunk,
  refreshLeases,
  releaseNar,
} from "@garret/db";
import { NarValidator, NixFormatError } from "@garret/nix";
import type { Deps } from "../deps.ts";
import { AtticError, requestError } from "../errors.ts";
import type { ServerSettings } from "../settings.ts";
import {
  ChunkUploads,
  type StoredChunk,
  sharedConcat,
  WholeChunkWriter,
  WholeNarChunk,
  type WholeNarContent,
} from "./chunk-store.ts";
import type { IngestLane } from "./ingest-memory.ts";
import { SenderFile } from "./sender-file.ts";
import { chunksGone, LeaseRefresher, linkChunks } from "./upload-leases.ts";

/** Whole NARs up to this size are buffered and stored as one chunk in one write; larger ones stream. */
const WHOLE_NAR_BUFFER_LIMIT = 16 * 1024 * 1024;

/** What the sender said about the NAR before sending it. */
export interface NarClaim {
  /** `sha256:<hex>`. */
  narHash: string;
  narSize: number;
}

export interface IngestedNar {
  narId: number;
  narHash: string;
  narSize: number;
  /** Chunks the NAR is made of (1 when kept whole). */
  numChunks: number;
  /** Chunks that were already stored (including repeats within this NAR). */
  deduplicatedChunks: number;
  /** Uncompressed bytes of those chunks. */
  deduplicatedBytes: number;
  /** Compressed bytes of all its chunks in storage. */
  fileSize: number;
  /** Kept as one chunk (not content-defined chunks). */
  whole: boolean;
  /** An existing valid NAR with the claimed hash was reused; nothing was stored. */
  reused: boolean;
}

export interface IngestRequest {
  /** The uncompressed NAR. Errors it raises are passed on unchanged (callers map their framing's). */
  nar: AsyncIterable<Uint8Array>;
  /** Hash and size announced up front (attic API, an upstream narinfo); null when only the bytes tell. */
  claim: NarClaim | null;
  /** `V`: visible once committed. `P`: pending (a `nix copy` NAR waiting for its narinfo). */
  state: "V" | "P";
  /** Reuse a valid NAR with the claimed hash instead of storing it again (needs a claim). */
  reuseExistingNar?: boolean;
  /** Largest uncompressed NAR accepted. */
  maxNarSize?: number;
  /** The sender's compressed file as it arrives (from `senderFileFor`), stored as is when it can be. */
  senderFile?: SenderFile | null;
  /** Runs in the transaction that records the NAR: point objects at it, record a pending upload. */
  commit(tx: Executor, nar: IngestedNar): Promise<unknown>;
}

/** The one chunking decision: when a NAR is cut into content-defined chunks. */
export interface NarChunking {
  /** false: every NAR is kept whole. */
  chunk: boolean;
  /** NARs of at least this many bytes are chunked (when `chunk`). */
  threshold: number;
  params: ChunkingParams;
}

export function narChunking(settings: Pick<ServerSettings, "chunking" | "compression">): NarChunking {
  const { narSizeThreshold, minSize, avgSize, maxSize } = settings.chunking;
  // Brotli streams cannot be concatenated (decoders stop after the first), so a NAR served as
  // several brotli chunks cannot be decoded by Nix. atticd chunks it anyway.
  const chunk = narSizeThreshold > 0 && settings.compression.type !== "brotli";
  return { chunk, threshold: narSizeThreshold, params: { minSize, avgSize, maxSize } };
}

/** NARs below this many bytes are kept whole in memory (the rest are chunked or streamed). */
function wholeBufferLimit(policy: NarChunking): number {
  return policy.chunk ? policy.threshold : WHOLE_NAR_BUFFER_LIMIT;
}

/**
 * What a sender's file in `compression` (Nix's name) is collected in, for `ingestNar` to store as
 * the chunk of a NAR kept whole; null when it could not be stored as is. Only zstd: its frames
 * concatenate (a NAR's chunks are served one after the other) and a file can be checked to be
 * nothing but frames, which Node's decoder (ignoring trailing bytes) does not do.
 */
export function senderFileFor(
  settings: Pick<ServerSettings, "chunking" | "compression">,
  compression: string,
): SenderFile | null {
  if (compression !== "zstd" || nixCompressionName(settings.compression.type) !== "zstd") return null;
  // A compressed file may be a little larger than its NAR (incompressible data plus headers).
  const limit = wholeBufferLimit(narChunking(settings));
  return new SenderFile(compression, limit + Math.ceil(limit / 64) + 1024);
}

/** The sender's file when it can be the chunk of the NAR it decoded to: all of it, and only frames. */
function storableSenderFile(file: SenderFile | null | undefined, compression: string): Uint8Array | null {
  if (!file || file.compression !== compression) return null;
  const bytes = file.bytes();
  return bytes && isZstdFramesOnly(bytes) ? bytes : null;
}

export function ingestNar(deps: Deps, request: IngestRequest): Promise<IngestedNar> {
  return deps.ingests.track(ingest(deps, request));
}

async function ingest(deps: Deps, request: IngestRequest): Promise<IngestedNar> {
  const { claim } = request;
  if (claim && request.reuseExistingNar) {
    const reused = await reuseNar(deps, request, claim);
    if (reused) return reused;
  }
  return storeNar(deps, request);
}

async function reuseNar(deps: Deps, request: IngestRequest, claim: NarClaim): Promise<IngestedNar | null> {
  const existing = await findAndLockNar(deps.db, claim.narHash);
  if (!existing) return null;
  try {
    if (deps.settings.requireProofOfPossession) {
      // Validated like a new upload, so a body that does not match its claim gets the same answer
      // whether or not someone, in any cache, already stored that hash: no cross-tenant oracle.
      const check = new NarCheck(claim, request.maxNarSize, true);
      const lease = new LeaseRefresher(deps, () => refreshLeases(deps.db, { nars: [existing.id] }));
      try {
        for await (const piece of request.nar) check.update(piece);
      } finally {
        await lease.stop();
      }
      check.finish();
      if (existing.narSize !== claim.narSize) throw requestError("Bad NAR Hash or Size");
    }
    const nar: IngestedNar = {
      narId: existing.id,
      narHash: claim.narHash,
      narSize: existing.narSize,
      numChunks: existing.numChunks,
      deduplicatedChunks: existing.numChunks,
      deduplicatedBytes: existing.narSize,
      fileSize: 0,
      whole: false,
      reused: true,
    };
    await deps.db.transaction((tx) => request.commit(tx, nar));
    if (request.state === "V") deps.state.objectsChanged();
    return nar;
  } finally {
    await releaseNar(deps.db, existing.id).catch((err: unknown) =>
      deps.log.warn("failed to release NAR lease", { err, narId: existing.id }),
    );
  }
}

async function storeNar(deps: Deps, request: IngestRequest): Promise<IngestedNar> {
  const { claim } = request;
  const policy = narChunking(deps.settings);
  const compression = nixCompressionName(deps.settings.compression.type);
  const check = new NarCheck(claim, request.maxNarSize, true);
  let chunks = new ChunkUploads(deps, compression);
  let lane: IngestLane | null = null;
  const bufferLimit = wholeBufferLimit(policy);
  let segments: SegmentCutter | null = null;
  let stream: WholeChunkWriter | null = null;
  let buffered: Uint8Array[] = [];
  let bufferedSize = 0;
  let committed = false;
  let single: WholeNarChunk | null = null;
  const lease = new LeaseRefresher(deps, () =>
    refreshLeases(deps.db, {
      chunks: [
        ...chunks.leased(),
        ...(stream ? [stream.chunkId] : []),
        ...(single?.pending ? [single.pending] : []),
      ],
    }),
  );
  try {
    for await (const piece of request.nar) {
      check.update(piece);
      if (stream) {
        await stream.write(piece);
        continue;
      }
      if (segments) {
        await segments.write(piece);
        continue;
      }
      buffered.push(piece);
      bufferedSize += piece.length;
      if (bufferedSize < bufferLimit) continue;
      if (policy.chunk) {
        lane = await deps.ingestMemory.acquire();
        chunks = new ChunkUploads(deps, compression, lane);
        segments = new SegmentCutter(deps, policy, chunks, lane);
        for (const part of buffered) await segments.write(part);
        buffered = [];
        bufferedSize = 0;
        continue;
      }
      stream = await WholeChunkWriter.start(deps, compression, claim?.narHash ?? null);
      for (const part of buffered) await stream.write(part);
      buffered = [];
      bufferedSize = 0;
    }
    const { narHash, narSize } = check.finish();

    if (!stream && !segments && bufferedSize > 0) {
      // A NAR kept whole and buffered: one chunk, linked in the commit's transaction (whole-nars.ts).
      const file = storableSenderFile(request.senderFile, compression);
      const content: WholeNarContent = file
        ? { size: bufferedSize, file }
        : { bytes: sharedConcat(buffered, bufferedSize) };
      buffered = [];
      single = new WholeNarChunk(deps, compression);
      const nar = await commitWholeNar(deps, request, single, content, { narHash, narSize }, compression);
      committed = true;
      if (request.state === "V") deps.state.objectsChanged();
      return nar;
    }

    let stored: StoredChunk[];
    if (stream) {
      stored = [await stream.finish(narHash, narSize)];
    } else {
      if (segments) await segments.end();
      // A NAR kept whole is one chunk whose hash is the NAR hash.
      else if (bufferedSize > 0) await chunks.add(sharedConcat(buffered, bufferedSize), narHash);
      buffered = [];
      stored = await chunks.finish();
    }

    const whole = segments === null;
    const refs = stored.map((c, seq) => ({ seq, chunkId: c.chunkId }));
    const nar = await deps.db.transaction(async (tx) => {
      const row = await insertNar(tx, {
        state: request.state,
        narHash,
        narSize,
        compression,
        numChunks: refs.length,
      });
      await linkChunks(tx, row.id, refs);
      const ingested: IngestedNar = {
        narId: row.id,
        narHash,
        narSize,
        numChunks: refs.length,
        deduplicatedChunks: stored.filter((c) => c.deduplicated).length,
        deduplicatedBytes: stored.reduce((s, c) => s + (c.deduplicated ? c.size : 0), 0),
        fileSize: stored.reduce((s, c) => s + c.fileSize, 0),
        whole,
        reused: false,
      };
      await request.commit(tx, ingested);
      return ingested;
    });
    committed = true;
    if (request.state === "V") deps.state.objectsChanged();
    return nar;
  } finally {
    await segments?.settle();
    await lease.stop();
    await chunks.release();
    // Nothing reads or writes the lane's buffers any more: the cuts and batches have settled.
    lane?.release();
    if (stream) await (committed ? stream.release() : stream.abort());
    if (single && !committed) {
      await single
        .discard()
        .catch((err: unknown) => deps.log.warn("failed to remove an uncommitted chunk", { err }));
    }
  }
}

/**
 * The commit of a NAR kept whole: its chunk stored (or found), then one transaction makes it valid
 * (or checks it still is) and writes the NAR row, its chunkref and the caller's rows. A reused chunk
 * that GC collected in between is stored afresh, once; a new chunk's pending row reaped meanwhile (an
 * upload slower than GC's grace period) fails the upload with a 503 to send it again.
 */
async function commitWholeNar(
  deps: Deps,
  request: IngestRequest,
  whole: WholeNarChunk,
  content: WholeNarContent,
  { narHash, narSize }: NarClaim,
  compression: string,
): Promise<IngestedNar> {
  for (let attempt = 1; ; attempt++) {
    const { link, chunk } = await whole.store(content, narHash);
    const nar = await deps.db.transaction(async (tx) => {
      const narId = await linkWholeChunk(tx, link, { state: request.state, narHash, narSize, compression });
      if (narId === null) return null;
      const ingested: IngestedNar = {
        narId,
        narHash,
        narSize,
        numChunks: 1,
        deduplicatedChunks: chunk.deduplicated ? 1 : 0,
        deduplicatedBytes: chunk.deduplicated ? chunk.size : 0,
        fileSize: chunk.fileSize,
        whole: true,
        reused: false,
      };
      await request.commit(tx, ingested);
      return ingested;
    });
    if (nar) {
      whole.committed();
      return nar;
    }
    await whole.discard();
    if (link.fresh || attempt >= 2) throw chunksGone(1);
  }
}

/**
 * Content-defined chunking off the main thread, in the segment buffers of the upload's lane: NAR
 * bytes are copied into a segment as they arrive, behind room for the previous segment's uncut
 * rest; a full segment gets that rest copied in front, a worker returns its cut points and chunk
 * hashes, and its complete chunks go to storage as one batch. A segment buffer is free again once
 * its batch is stored and its own rest was copied into the next one; while none is free, reading
 * from the client waits.
 */
class SegmentCutter {
  private previous: Promise<Uint8Array> = Promise.resolve(new Uint8Array(0));
  /** The previous segment's buffer, given back once its rest is copied (and its batch is done). */
  private releasePrevious: () => void = () => {};
  private filling: Uint8Array | null = null;
  private filled = 0;
  private readonly deps: Deps;
  private readonly policy: NarChunking;
  private readonly chunks: ChunkUploads;
  private readonly lane: IngestLane;

  constructor(deps: Deps, policy: NarChunking, chunks: ChunkUploads, lane: IngestLane) {
    this.deps = deps;
    this.policy = policy;
    this.chunks = chunks;
    this.lane = lane;
  }

  /** Copies `piece` into segments, starting to cut each one that fills up. */
  async write(piece: Uint8Array): Promise<void> {
    let off = 0;
    while (off < piece.length) {
      if (!this.filling) {
        this.filling = await this.lane.segments.take();
        this.filled = this.lane.shape.headroom;
      }
      const n = Math.min(piece.length - off, this.filling.length - this.filled);
      this.filling.set(piece.subarray(off, off + n), this.filled);
      this.filled += n;
      off += n;
      if (this.filled === this.filling.length) await this.cut(false);
    }
  }

  /** Cuts the last segment and waits until all of the NAR's chunks are on their way to storage. */
  async end(): Promise<void> {
    if (!this.filling) {
      // The NAR ended with a full segment: its rest is the last chunk.
      this.filling = await this.lane.segments.take();
      this.filled = this.lane.shape.headroom;
    }
    await this.cut(true);
  }

  /** Starts cutting the filling segment after waiting for the previous one's rest. */
  private async cut(final: boolean): Promise<void> {
    const buffer = this.filling as Uint8Array;
    this.filling = null;
    const { headroom } = this.lane.shape;
    let rest: Uint8Array;
    try {
      rest = await this.previous;
    } catch (err) {
      this.lane.segments.give(buffer);
      throw err;
    }
    // The rest is shorter than a largest chunk, which is the headroom (fastcdc.ts cutPoints).
    const start = headroom - rest.length;
    buffer.set(rest, start);
    this.releasePrevious();
    const segment = buffer.subarray(start, this.filled);
    // Held by the batch and, unless this is the last segment, until the next one copied its rest.
    let holders = final ? 1 : 2;
    const drop = () => {
      if (--holders === 0) this.lane.segments.give(buffer);
    };
    this.releasePrevious = final ? () => {} : drop;
    const cutting = this.deps.compressor.cutSegment(segment, this.policy.params, final).then(
      async ({ cuts, hashes }) => {
        await this.chunks.addSegment(segment, cuts, hashes, drop);
        return segment.subarray(cuts.at(-1) ?? 0);
      },
      (err: unknown) => {
        drop();
        throw err;
      },
    );
    // A failure is raised by the next `cut` (or `settle`); until then it must not go unhandled.
    cutting.catch(() => {});
    this.previous = cutting;
    if (final) await cutting;
  }

  /** Waits for the segment in progress, whatever its outcome (before leases are given back). */
  async settle(): Promise<void> {
    await this.previous.catch(() => {});
  }
}

/**
 * Verifies what streams through: its SHA-256 and size against the claim (a body that outgrows
 * the claim fails at once), the size limit, and that it is a well-formed NAR.
 */
export class NarCheck {
  private readonly hash = createHash("sha256");
  private readonly validator: NarValidator | null;
  private size = 0;
  private readonly claim: NarClaim | null;
  private readonly maxSize: number | undefined;

  constructor(claim: NarClaim | null, maxSize: number | undefined, validate: boolean) {
    this.claim = claim;
    this.maxSize = maxSize;
    this.validator = validate ? new NarValidator() : null;
  }

  update(piece: Uint8Array): void {
    this.size += piece.length;
    if (this.claim && this.size > this.claim.narSize) throw requestError("Bad NAR Hash or Size");
    if (this.maxSize !== undefined && this.size > this.maxSize) {
      throw new AtticError("PayloadTooLarge", {
        detail: `NARs are limited to ${this.maxSize} bytes uncompressed`,
      });
    }
    this.hash.update(piece);
    try {
      this.validator?.push(piece);
    } catch (err) {
      throw invalidNar(err);
    }
  }

  finish(): NarClaim {
    const narHash = `sha256:${this.hash.digest("hex")}`;
    if (this.claim && (narHash !== this.claim.narHash || this.size !== this.claim.narSize)) {
      throw requestError("Bad NAR Hash or Size");
    }
    try {
      this.validator?.end();
    } catch (err) {
      throw invalidNar(err);
    }
    return { narHash, narSize: this.size };
  }
}

function invalidNar(err: unknown): AtticError {
  if (err instanceof AtticError) return err;
  return requestError(
    `Invalid NAR: ${err instanceof NixFormatError || err instanceof Error ? err.message : String(err)}`,
  );
}
