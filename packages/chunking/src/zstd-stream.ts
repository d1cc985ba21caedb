/**
 * Streaming zstd on top of zstd-napi's native contexts. zstd-napi's own stream classes run a whole
 * input chunk (and all of its output) in one synchronous call; these feed it in slices with bounded
 * output buffers, honour backpressure and yield to the event loop between slices.
 */
import binding from "zstd-napi/binding.js";
import { CompressionError } from "./compression-type.ts";
import { PullTransform } from "./pull-transform.ts";

const INPUT_SLICE = 64 * 1024;
const OUTPUT_BUFFER = 128 * 1024;

/** Pushes `produced` bytes of `out`: hands over a mostly full buffer, copies a small result. */
function takeOutput(out: Buffer, produced: number): { data: Uint8Array; reuse: boolean } {
  if (produced >= out.length / 2) return { data: out.subarray(0, produced), reuse: false };
  return { data: new Uint8Array(out.subarray(0, produced)), reuse: true };
}

/** Compresses a stream into a single zstd frame. */
export class ZstdCompressStream extends PullTransform {
  readonly #cctx = new binding.CCtx();
  #out = Buffer.allocUnsafe(OUTPUT_BUFFER);

  constructor(level: number) {
    super();
    this.#cctx.setParameter(binding.CParameter.compressionLevel, level);
  }

  protected async process(input: Buffer, end: boolean): Promise<void> {
    let src: Buffer = input;
    for (;;) {
      const slice = src.subarray(0, INPUT_SLICE);
      const last = end && slice.length === src.length;
      const directive = last ? binding.EndDirective.end : binding.EndDirective.continue;
      const [remaining, produced, consumed] = this.#cctx.compressStream2(this.#out, slice, directive);
      src = src.subarray(consumed);
      if (produced > 0) {
        const { data, reuse } = takeOutput(this.#out, produced);
        if (!reuse) this.#out = Buffer.allocUnsafe(OUTPUT_BUFFER);
        await this.output(data);
        if (this.destroyed) return;
      }
      if (src.length === 0 && (!last || remaining === 0)) return;
      await this.yieldIfBusy();
    }
  }
}

/** Decompresses one or more concatenated zstd frames. */
export class ZstdDecompressStream extends PullTransform {
  readonly #dctx = new binding.DCtx();
  #out = Buffer.allocUnsafe(OUTPUT_BUFFER);
  #inFrame = false;

  protected async process(input: Buffer, end: boolean): Promise<void> {
    if (end) {
      if (this.#inFrame) throw new CompressionError("zstd stream is truncated");
      return;
    }
    let src: Buffer = input;
    for (;;) {
      let result: [number, number, number];
      try {
        result = this.#dctx.decompressStream(this.#out, src.subarray(0, INPUT_SLICE));
      } catch (error) {
        throw new CompressionError(`zstd stream is corrupt: ${(error as Error).message}`, { cause: error });
      }
      const [hint, produced, consumed] = result;
      src = src.subarray(consumed);
      this.#inFrame = hint !== 0;
      const full = produced === this.#out.length;
      if (produced > 0) {
        const { data, reuse } = takeOutput(this.#out, produced);
        if (!reuse) this.#out = Buffer.allocUnsafe(OUTPUT_BUFFER);
        await this.output(data);
        if (this.destroyed) return;
      } else if (consumed === 0 && src.length > 0) {
        throw new CompressionError("zstd decoder made no progress");
      }
      // A full output buffer may mean more output is pending inside the decoder.
      if (src.length === 0 && !full) return;
      await this.yieldIfBusy();
    }
  }
}
