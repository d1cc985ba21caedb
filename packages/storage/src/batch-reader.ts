/**
 * Reads several local files whole into one buffer on worker threads (batch-read-worker.mjs). A NAR
 * download is the concatenation of its chunk files, tens of kilobytes each; reading them one by
 * one with `fs` promises costs the main thread three thread-pool round trips per file (open, read,
 * close), which profiles showed as a third of a download's CPU. A batch costs one message each way
 * and hands back one buffer that goes to the socket in one write.
 *
 * Workers are started on first use and do not keep the process alive. A worker that dies fails
 * the reads it had taken and is replaced on the next read.
 *
 * Each worker is an isolate of its own (~10 MiB resident). On two cores one is enough: a batch is
 * copied from the page cache in well under a millisecond, and the main thread, which writes every
 * batch to its socket, is what limits a download (docs/performance.md).
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { readFilesSync } from "./read-files.mjs";
import { createReadPool, type ReadSlot } from "./read-pool.ts";

const WORKER_URL = new URL("./batch-read-worker.mjs", import.meta.url);

export interface BatchReadFailure {
  /** Position in `paths` of the file that could not be read. */
  index: number;
  /** errno code (`ENOENT`, …), or `ESHORT` when a file shrank while being read. */
  code: string;
  message: string;
}

export class BatchReadError extends Error {
  readonly failure: BatchReadFailure;

  constructor(failure: BatchReadFailure) {
    super(failure.message);
    this.failure = failure;
    this.name = "BatchReadError";
  }
}

export interface BatchReader {
  /**
   * The files' contents, concatenated in order, read by a worker; `expectedBytes` (their recorded
   * sizes) lets the read go into pooled memory (read-pool.ts).
   */
  read(paths: string[], expectedBytes?: number): Promise<Buffer>;
  /** The same, read on the calling thread with blocking calls (small reads). */
  readHere(paths: string[], expectedBytes: number): Buffer;
  /** The caller is done with a buffer a read returned: its memory may be reused. */
  recycle(buffer: Uint8Array): void;
  close(): Promise<void>;
}

type Reply =
  | { id: number; buffer: ArrayBuffer }
  | { id: number; length: number; inSlot: true }
  | { id: number; error: BatchReadFailure };

interface Pending {
  slot: ReadSlot | undefined;
  resolve(b: Buffer): void;
  reject(e: Error): void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
}

/** Read workers for a machine with `cores` cores: one on two cores or fewer, two above. */
export function readWorkerCount(cores = availableParallelism()): number {
  return cores > 2 ? 2 : 1;
}

export function createBatchReader(threads = readWorkerCount()): BatchReader {
  const slots: Array<Slot | undefined> = new Array(threads).fill(undefined);
  const pool = createReadPool();
  let nextId = 0;
  let turn = 0;
  let closed = false;

  const start = (position: number): Slot => {
    const worker = new Worker(WORKER_URL);
    worker.unref();
    const slot: Slot = { worker, pending: new Map() };
    const failAll = (err: Error) => {
      if (slots[position] === slot) slots[position] = undefined;
      // The worker is gone: nothing writes into their slots any more.
      for (const p of slot.pending.values()) {
        if (p.slot) pool.giveBack(p.slot);
        p.reject(err);
      }
      slot.pending.clear();
    };
    worker.on("message", (reply: Reply) => {
      const p = slot.pending.get(reply.id);
      if (!p) return;
      slot.pending.delete(reply.id);
      if ("inSlot" in reply && p.slot) {
        p.resolve(pool.lend(p.slot, reply.length));
      } else {
        if (p.slot) pool.giveBack(p.slot);
        if ("error" in reply) p.reject(new BatchReadError(reply.error));
        else if ("buffer" in reply) p.resolve(Buffer.from(reply.buffer));
      }
      if (slot.pending.size === 0) worker.unref();
    });
    worker.on("error", failAll);
    worker.on("exit", (code) => failAll(new Error(`batch read worker exited (${code})`)));
    slots[position] = slot;
    return slot;
  };

  return {
    read(paths, expectedBytes) {
      if (closed) return Promise.reject(new Error("batch reader is closed"));
      const position = turn++ % threads;
      const slot = slots[position] ?? start(position);
      const id = nextId++;
      const memory = expectedBytes === undefined ? undefined : pool.take(expectedBytes);
      return new Promise<Buffer>((resolve, reject) => {
        slot.pending.set(id, { slot: memory, resolve, reject });
        // Referenced while it owes an answer, so a process waiting only on this read stays up.
        slot.worker.ref();
        slot.worker.postMessage({ id, paths, memory: memory?.memory });
      });
    },
    readHere(paths, expectedBytes) {
      const memory = pool.take(expectedBytes);
      let inSlot = false;
      try {
        const { buffer } = readFilesSync(paths, (total) => {
          inSlot = memory !== undefined && total <= memory.memory.byteLength;
          return inSlot
            ? Buffer.from(memory?.memory as SharedArrayBuffer, 0, total)
            : Buffer.allocUnsafe(total);
        });
        if (inSlot && memory) return pool.lend(memory, buffer.length);
        if (memory) pool.giveBack(memory);
        return buffer;
      } catch (err) {
        if (memory) pool.giveBack(memory);
        throw err;
      }
    },
    recycle: (buffer) => pool.recycle(buffer),
    async close() {
      closed = true;
      await Promise.all(slots.map((slot) => slot?.worker.terminate()));
    },
  };
}
