/**
 * The memory that uploads are cut and compressed in: one pool per process, whose size
 * (`[garret] upload-memory`) is the hard cap on what the chunking uploads hold in NAR bytes and
 * compressed chunks. Before it, every 4 MiB segment and every batch's compressed files was a fresh
 * SharedArrayBuffer, freed only once every isolate that saw it had collected its wrapper: under four
 * big uploads the main thread held ~160 MB of such buffers waiting for a GC while ~20 MiB per upload
 * were in use (docs/performance.md).
 *
 * The pool is made of lanes, one per upload that is being chunked: a lane is the segments and
 * output buffers one upload's pipeline needs (ingest-nar.ts, chunk-store.ts), reused for all of its
 * segments. An upload takes a whole lane or none, so uploads never wait on each other's partial
 * holdings (no deadlock), and waits at most `waitMs` for one before it is refused with a 503 that
 * says to send again (nothing of it was stored). Lanes are made on demand and dropped after a quiet
 * period, so an idle server holds none.
 *
 * Up to `promptLanes` (by default two per compression worker, what the workers can keep busy) are
 * made as soon as an upload asks; beyond that an upload first waits up to `promptWaitMs` for a lane
 * to come free, and only then gets a new one (within the cap). A lane's pages stay resident until
 * the pool drops it, so lanes made for a moment's overlap, such as the uploads of clients that went
 * away, whose last segments are still being stored, while the next clients start, otherwise sat
 * unused for the rest of a busy period: under 4 uploads and 16 downloads that was 4 lanes (27.6 MiB)
 * beside the 4 in use (docs/performance.md).
 */
import { AtticError } from "../errors.ts";

/**
 * New NAR bytes per segment: what one worker task cuts and one batch of chunk storage stores.
 * 4 MiB segments made a lane 12.9 MiB, 2 MiB ones 6.9 MiB; 1 MiB ones make it 3.8 MiB for a few
 * more database statements and worker messages per GiB (docs/performance.md, rounds 4 and 6).
 */
export const SEGMENT_BYTES = 1024 * 1024;
/** Batches of one upload being compressed and stored while its next segment fills. */
export const BATCHES_IN_FLIGHT = 1;
const IDLE_DROP_MS = 30_000;
/** How long an upload beyond `promptLanes` waits for a free lane before a new one is made. */
const PROMPT_WAIT_MS = 3_000;

/** A codec's output can exceed its input (stored blocks, frame headers): room for that, per byte and per chunk. */
const OUTPUT_SLACK_DIVISOR = 64;
const OUTPUT_SLACK_BYTES = 64 * 1024;

export interface IngestLaneShape {
  /** Bytes kept in front of each segment's new bytes for the previous segment's uncut rest (< max chunk size). */
  headroom: number;
  segmentBytes: number;
  outputBytes: number;
  segments: number;
  outputs: number;
}

/** What one lane is made of, for uploads whose chunks are at most `maxChunkSize` bytes. */
export function laneShape(maxChunkSize: number): IngestLaneShape {
  const segmentBytes = maxChunkSize + SEGMENT_BYTES;
  return {
    headroom: maxChunkSize,
    segmentBytes,
    outputBytes: segmentBytes + Math.ceil(segmentBytes / OUTPUT_SLACK_DIVISOR) + OUTPUT_SLACK_BYTES,
    // One filling while the batches in flight are cut, compressed and stored.
    segments: BATCHES_IN_FLIGHT + 1,
    outputs: BATCHES_IN_FLIGHT,
  };
}

export function laneBytes(shape: IngestLaneShape): number {
  return shape.segments * shape.segmentBytes + shape.outputs * shape.outputBytes;
}

/** Buffers of one kind within a lane, handed out in turn to the one upload that holds the lane. */
export class LaneBuffers {
  private readonly free: Uint8Array[];
  private readonly waiting: Array<(buffer: Uint8Array) => void> = [];

  constructor(buffers: Uint8Array[]) {
    this.free = [...buffers];
  }

  async take(): Promise<Uint8Array> {
    const buffer = this.free.pop();
    if (buffer) return buffer;
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  give(buffer: Uint8Array): void {
    const next = this.waiting.shift();
    if (next) next(buffer);
    else this.free.push(buffer);
  }
}

export interface IngestLane {
  readonly shape: IngestLaneShape;
  /** Views of SharedArrayBuffers of `shape.segmentBytes` (the workers read them in place). */
  readonly segments: LaneBuffers;
  /** Views of SharedArrayBuffers of `shape.outputBytes` (the workers write compressed chunks there). */
  readonly outputs: LaneBuffers;
  /** Gives the lane back; its buffers must no longer be in use. */
  release(): void;
}

export interface IngestMemory {
  readonly shape: IngestLaneShape;
  /** Most lanes at once: the cap divided by a lane's bytes, at least one. */
  readonly maxLanes: number;
  /** A lane, once one is free; a 503 `ServiceUnavailable` after waiting `waitMs`. */
  acquire(): Promise<IngestLane>;
  usage(): IngestMemoryUsage;
}

interface LaneMemory {
  segments: Uint8Array[];
  outputs: Uint8Array[];
}

export interface IngestMemoryUsage {
  /** Lanes held by uploads. */
  held: number;
  /** Lanes made, held or free. */
  made: number;
  /** Bytes of the lanes made. */
  bytes: number;
  /** Uploads waiting for a lane. */
  waiting: number;
}

export interface IngestMemoryOptions {
  /** The cap, bytes. */
  bytes: number;
  /** How long an upload waits for a lane before its 503. */
  waitMs: number;
  maxChunkSize: number;
  /** Told every change of the usage (for the metrics). */
  observe?: (usage: IngestMemoryUsage) => void;
  /** Lanes made without waiting (default: all that fit in the cap). */
  promptLanes?: number;
  /** How long an upload beyond `promptLanes` waits for a free lane before one is made (default 3 s). */
  promptWaitMs?: number;
}

export function createIngestMemory(options: IngestMemoryOptions): IngestMemory {
  const shape = laneShape(options.maxChunkSize);
  const maxLanes = Math.max(1, Math.floor(options.bytes / laneBytes(shape)));
  const promptLanes = Math.max(1, options.promptLanes ?? maxLanes);
  const promptWaitMs = Math.min(options.promptWaitMs ?? PROMPT_WAIT_MS, options.waitMs);
  let free: LaneMemory[] = [];
  let made = 0;
  let held = 0;
  let lastRelease = 0;
  let idleCheckPending = false;
  const waiting: Array<{ grant(memory: LaneMemory): void }> = [];
  const usage = (): IngestMemoryUsage => ({
    held,
    made,
    bytes: made * laneBytes(shape),
    waiting: waiting.length,
  });
  const changed = (): void => options.observe?.(usage());

  const makeMemory = (): LaneMemory => ({
    segments: Array.from(
      { length: shape.segments },
      () => new Uint8Array(new SharedArrayBuffer(shape.segmentBytes)),
    ),
    outputs: Array.from(
      { length: shape.outputs },
      () => new Uint8Array(new SharedArrayBuffer(shape.outputBytes)),
    ),
  });

  const dropWhenIdle = (): void => {
    if (held > 0 || performance.now() - lastRelease < IDLE_DROP_MS) {
      setTimeout(dropWhenIdle, IDLE_DROP_MS).unref();
      return;
    }
    idleCheckPending = false;
    made -= free.length;
    free = [];
    changed();
  };

  const lane = (memory: LaneMemory): IngestLane => {
    held++;
    changed();
    let released = false;
    return {
      shape,
      segments: new LaneBuffers(memory.segments),
      outputs: new LaneBuffers(memory.outputs),
      release() {
        if (released) return;
        released = true;
        held--;
        changed();
        lastRelease = performance.now();
        const next = waiting.shift();
        if (next) {
          next.grant(memory);
          return;
        }
        free.push(memory);
        if (!idleCheckPending) {
          idleCheckPending = true;
          setTimeout(dropWhenIdle, IDLE_DROP_MS).unref();
        }
      },
    };
  };

  return {
    shape,
    maxLanes,
    async acquire() {
      const ready = free.pop();
      if (ready) return lane(ready);
      if (made < Math.min(promptLanes, maxLanes)) {
        made++;
        return lane(makeMemory());
      }
      return new Promise<IngestLane>((resolve, reject) => {
        const leave = () => {
          clearTimeout(prompt);
          clearTimeout(refuse);
          waiting.splice(waiting.indexOf(entry), 1);
        };
        const entry = {
          grant(memory: LaneMemory) {
            clearTimeout(prompt);
            clearTimeout(refuse);
            // Already out of `waiting` (shifted by `release`).
            resolve(lane(memory));
          },
        };
        // No lane came free in time: a new one, if the cap has room.
        const prompt = setTimeout(() => {
          if (made >= maxLanes) return;
          leave();
          made++;
          resolve(lane(makeMemory()));
        }, promptWaitMs);
        const refuse = setTimeout(() => {
          leave();
          changed();
          reject(
            new AtticError("ServiceUnavailable", {
              detail: "the server's upload memory is in use by other uploads; send the NAR again",
            }),
          );
        }, options.waitMs);
        waiting.push(entry);
        changed();
      });
    },
    usage,
  };
}
