/**
 * Base for transforms whose work on one input chunk may yield many output chunks (decompression,
 * sliced compression). `_transform` runs an async job that awaits `output`, which respects the
 * reader's backpressure instead of buffering without bound, and `yieldIfBusy`, which yields to the event
 * loop when the job has held it for a few milliseconds.
 */

import { Transform, type TransformCallback } from "node:stream";
import { setImmediate as yieldToLoop } from "node:timers/promises";

const MAX_SLICE_MS = 4;

export abstract class PullTransform extends Transform {
  #wakeReader: (() => void) | undefined;
  #sliceStart = 0;

  /** Processes one input chunk; `end` marks the final call (from `_flush`, with empty input). */
  protected abstract process(input: Buffer, end: boolean): Promise<void>;

  /** Pushes `data` and, if the reader is saturated, waits until it asks for more. */
  protected async output(data: Uint8Array): Promise<void> {
    if (this.push(data)) return;
    if (this.destroyed) return;
    await new Promise<void>((resolve) => {
      this.#wakeReader = resolve;
    });
    this.#sliceStart = performance.now();
  }

  /** Yields to the event loop when synchronous work has run longer than a few milliseconds. */
  protected async yieldIfBusy(): Promise<void> {
    if (performance.now() - this.#sliceStart < MAX_SLICE_MS) return;
    await yieldToLoop();
    this.#sliceStart = performance.now();
  }

  override _read(size: number): void {
    const wake = this.#wakeReader;
    this.#wakeReader = undefined;
    wake?.();
    super._read(size);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#run(chunk, false, callback);
  }

  override _flush(callback: TransformCallback): void {
    this.#run(Buffer.alloc(0), true, callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // Release a job parked in `output`; it sees `destroyed` and stops.
    this.#wakeReader?.();
    this.#wakeReader = undefined;
    callback(error);
  }

  #run(input: Buffer, end: boolean, callback: TransformCallback): void {
    this.#sliceStart = performance.now();
    this.process(input, end).then(
      () => callback(),
      (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
    );
  }
}
