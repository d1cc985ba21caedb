/**
 * FastCDC content-defined chunking, "ronomon" variant: the algorithm of the ronomon/deduplication
 * JS library as ported by the Rust crate `fastcdc` 4.0.1, module `ronomon` (src/ronomon/mod.rs),
 * which is what atticd uses to split NARs. Matching it cut for cut lets a garret chunk store share
 * dedup with Rust atticd; the wire protocol itself does not depend on boundaries.
 *
 * Per chunk, starting `minSize` bytes in, the gear hash `h = (h >>> 1) + TABLE[byte]` is rolled over
 * each byte (bytes before `minSize` are never hashed, so the shortest cut chunk is `minSize + 1`). The table entries are 31-bit, so `h` never overflows 32 bits (the crate keeps it in a
 * u32; its all-zero test expects the hash 3106636015, which is above 2^31, so it is not masked to
 * 31 bits). A cut follows the first byte where `h & mask == 0`, with the strict mask
 * `2^(bits+1)-1` before the "center" offset and the eager mask `2^(bits-1)-1` after it, where
 * `bits = round(log2(avgSize))` and center = `avgSize - min(avgSize, minSize + ceil(minSize/2))`.
 * Center is measured from the chunk start, so when `avgSize < 2.5 * minSize` (e.g. 8/16/32 KiB) it
 * lies before `minSize` and only the eager mask is ever used; that is the reference's behaviour.
 * No cut by `maxSize` bytes forces one there; the last chunk of a stream may be shorter than `minSize`.
 */

/** Bounds the reference enforces (MINIMUM_MIN … MAXIMUM_MAX in fastcdc::ronomon). */
export const CHUNKING_LIMITS = {
  minSize: { min: 64, max: 67_108_864 },
  avgSize: { min: 256, max: 268_435_456 },
  maxSize: { min: 1024, max: 1_073_741_824 },
} as const;

export interface ChunkingParams {
  minSize: number;
  avgSize: number;
  maxSize: number;
}

export class ChunkingParamsError extends Error {
  override name = "ChunkingParamsError";
}

/**
 * Throws `ChunkingParamsError` unless every size is an integer within the reference's bounds and
 * min ≤ avg ≤ max (the reference does not check the ordering, but other orderings only degenerate
 * into fixed-size cuts, which is never what a config meant).
 */
export function validateChunkingParams(params: ChunkingParams): void {
  for (const key of ["minSize", "avgSize", "maxSize"] as const) {
    const value = params[key];
    const { min, max } = CHUNKING_LIMITS[key];
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new ChunkingParamsError(`${key} must be an integer in [${min}, ${max}], got ${value}`);
    }
  }
  if (params.minSize > params.avgSize || params.avgSize > params.maxSize) {
    throw new ChunkingParamsError(
      `chunk sizes must satisfy min <= avg <= max, got ${params.minSize}/${params.avgSize}/${params.maxSize}`,
    );
  }
}

/**
 * Streaming chunker. Feeding any split of a stream through `push` and then calling `finish` yields
 * exactly the chunks the reference produces for the whole stream at once.
 *
 * Returned chunks are always fresh allocations (never views of the caller's buffers), so callers
 * may reuse their input buffers and may transfer the chunks to other threads. Unconsumed input is
 * kept in a single tail buffer of at most `maxSize` bytes, and the rolling hash is resumed where the
 * previous push stopped, so no byte is hashed twice whatever the push sizes.
 */
export class FastCdcChunker {
  readonly #min: number;
  readonly #max: number;
  readonly #center: number;
  readonly #maskS: number;
  readonly #maskL: number;
  #tail: Uint8Array | undefined;
  #tailLen = 0;
  /** Offset, relative to the current chunk's start, of the next byte to hash (always ≥ min). */
  #pos: number;
  #hash = 0;

  constructor(params: ChunkingParams) {
    validateChunkingParams(params);
    const { minSize, avgSize, maxSize } = params;
    const bits = Math.round(Math.log2(avgSize));
    this.#min = minSize;
    this.#max = maxSize;
    this.#center = avgSize - Math.min(avgSize, minSize + Math.ceil(minSize / 2));
    this.#maskS = 2 ** (bits + 1) - 1;
    this.#maskL = 2 ** (bits - 1) - 1;
    this.#pos = minSize;
  }

  /** Consumes `data` and returns the chunks that are now complete (possibly none). */
  push(data: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    const min = this.#min;
    const max = this.#max;
    const n = data.length;
    let off = 0;

    if (this.#tailLen > 0) {
      // The current chunk starts in the tail; every tail byte past `min` has been hashed already.
      const tailLen = this.#tailLen;
      const end = Math.min(tailLen + n, max);
      let cut = -1;
      if (end > min) {
        const found = this.#scan(data, this.#pos - tailLen, end - tailLen, this.#center - tailLen);
        if (found >= 0) cut = found + tailLen;
        else if (end === max) cut = max;
        else this.#pos = end;
      }
      const tail = this.#tail as Uint8Array;
      if (cut < 0) {
        tail.set(data, tailLen);
        this.#tailLen = tailLen + n;
        return out;
      }
      const chunk = new Uint8Array(cut);
      chunk.set(tail.subarray(0, tailLen));
      chunk.set(data.subarray(0, cut - tailLen), tailLen);
      out.push(chunk);
      off = cut - tailLen;
      this.#reset();
    }

    for (;;) {
      const remaining = n - off;
      if (remaining <= min) break;
      const end = off + Math.min(remaining, max);
      const found = this.#scan(data, off + min, end, off + this.#center);
      let cut: number;
      if (found >= 0) cut = found;
      else if (end - off === max) cut = end;
      else {
        this.#pos = end - off;
        break;
      }
      // A copy, not `slice`: on a Buffer, `slice` returns a view.
      out.push(new Uint8Array(data.subarray(off, cut)));
      off = cut;
      this.#hash = 0;
    }

    if (off < n) {
      this.#tail ??= new Uint8Array(max);
      this.#tail.set(data.subarray(off), 0);
      this.#tailLen = n - off;
    }
    return out;
  }

  /**
   * Cuts a buffer that starts at a chunk boundary without copying it: returns the end offset of
   * every complete chunk, in order. When `final` is false, the bytes after the last offset are not
   * a complete chunk yet (more input could move their cut) and the caller passes them again at the
   * start of the next buffer; cutting [those bytes + what follows] gives exactly the chunks the
   * streaming chunker gives, since every cut depends only on the bytes from its chunk's start.
   * With `final`, the last offset is `data.length` (the final chunk may be shorter than `minSize`).
   * Only for a chunker that has no pending input (it is left that way).
   */
  cutPoints(data: Uint8Array, final: boolean): number[] {
    if (this.#tailLen > 0) throw new Error("cutPoints needs a chunker without pending input");
    const cuts: number[] = [];
    const min = this.#min;
    const max = this.#max;
    const n = data.length;
    let off = 0;
    for (;;) {
      const remaining = n - off;
      if (remaining <= min) break;
      const end = off + Math.min(remaining, max);
      this.#hash = 0;
      const found = this.#scan(data, off + min, end, off + this.#center);
      let cut: number;
      if (found >= 0) cut = found;
      else if (end - off === max) cut = end;
      else break;
      cuts.push(cut);
      off = cut;
    }
    this.#reset();
    if (final && off < n) cuts.push(n);
    return cuts;
  }

  /** Ends the stream: returns the final chunk (if any bytes are pending) and resets the chunker. */
  finish(): Uint8Array[] {
    if (this.#tailLen === 0) return [];
    // Everything pending has been scanned without a cut and is shorter than max: one last chunk,
    // copied out so that every chunk owns an exactly sized buffer (cheap to transfer or retain).
    const last = (this.#tail as Uint8Array).slice(0, this.#tailLen);
    this.#reset();
    return [last];
  }

  #reset(): void {
    this.#tailLen = 0;
    this.#pos = this.#min;
    this.#hash = 0;
  }

  /**
   * Rolls the hash over `buf[from..end)`, using the strict mask below index `strictEnd`. Returns the
   * index just past the cut byte, or -1 (with the hash saved) when no cut point occurs.
   */
  #scan(buf: Uint8Array, from: number, end: number, strictEnd: number): number {
    const table = RONOMON_GEAR_TABLE;
    let h = this.#hash;
    let i = from;
    const e1 = Math.min(strictEnd, end);
    const maskS = this.#maskS;
    while (i < e1) {
      // `| 0` keeps h a small integer for the JIT; the bits equal the reference's u32.
      h = ((h >>> 1) + (table[buf[i++] as number] as number)) | 0;
      if ((h & maskS) === 0) {
        this.#hash = 0;
        return i;
      }
    }
    const maskL = this.#maskL;
    while (i < end) {
      h = ((h >>> 1) + (table[buf[i++] as number] as number)) | 0;
      if ((h & maskL) === 0) {
        this.#hash = 0;
        return i;
      }
    }
    this.#hash = h;
    return -1;
  }
}

/** Chunks an async byte stream; see `FastCdcChunker`. */
export async function* chunkStream(
  source: AsyncIterable<Uint8Array>,
  params: ChunkingParams,
): AsyncGenerator<Uint8Array> {
  const chunker = new FastCdcChunker(params);
  for await (const data of source) yield* chunker.push(data);
  yield* chunker.finish();
}

/**
 * The ronomon gear table (interoperability constants) as listed in ronomon/deduplication and in
 * fastcdc-rs 4.0.1 src/ronomon/mod.rs: the AES-256-CTR keystream for an all-zero key and IV, read
 * as 256 big-endian u32 words with the top bit cleared (fastcdc.test.ts re-derives it that way).
 */
export const RONOMON_GEAR_TABLE = new Uint32Array([
  0x5c95c078, 0x22408989, 0x2d48a214, 0x12842087, 0x530f8afb, 0x474536b9, 0x2963b4f1, 0x44cb738b, 0x4ea7403d,
  0x4d606b6e, 0x074ec5d3, 0x3af39d18, 0x726003ca, 0x37a62a74, 0x51a2f58e, 0x7506358e, 0x5d4ab128, 0x4d4ae17b,
  0x41e85924, 0x470c36f7, 0x4741cbe1, 0x01bb7f30, 0x617c1de3, 0x2b0c3a1f, 0x50c48f73, 0x21a82d37, 0x6095ace0,
  0x419167a0, 0x3caf49b0, 0x40cea62d, 0x66bc1c66, 0x545e1dad, 0x2bfa77cd, 0x6e85da24, 0x5fb0bdc5, 0x652cfc29,
  0x3a0ae1ab, 0x2837e0f3, 0x6387b70e, 0x13176012, 0x4362c2bb, 0x66d8f4b1, 0x37fce834, 0x2c9cd386, 0x21144296,
  0x627268a8, 0x650df537, 0x2805d579, 0x3b21ebbd, 0x7357ed34, 0x3f58b583, 0x7150ddca, 0x7362225e, 0x620a6070,
  0x2c5ef529, 0x7b522466, 0x768b78c0, 0x4b54e51e, 0x75fa07e5, 0x06a35fc6, 0x30b71024, 0x1c8626e1, 0x296ad578,
  0x28d7be2e, 0x1490a05a, 0x7cee43bd, 0x698b56e3, 0x09dc0126, 0x4ed6df6e, 0x02c1bfc7, 0x2a59ad53, 0x29c0e434,
  0x7d6c5278, 0x507940a7, 0x5ef6ba93, 0x68b6af1e, 0x46537276, 0x611bc766, 0x155c587d, 0x301ba847, 0x2cc9dda7,
  0x0a438e2c, 0x0a69d514, 0x744c72d3, 0x4f326b9b, 0x7ef34286, 0x4a0ef8a7, 0x6ae06ebe, 0x669c5372, 0x12402dcb,
  0x5feae99d, 0x76c7f4a7, 0x6abdb79c, 0x0dfaa038, 0x20e2282c, 0x730ed48b, 0x069dac2f, 0x168ecf3e, 0x2610e61f,
  0x2c512c8e, 0x15fb8c06, 0x5e62bc76, 0x69555135, 0x0adb864c, 0x4268f914, 0x349ab3aa, 0x20edfdb2, 0x51727981,
  0x37b4b3d8, 0x5dd17522, 0x6b2cbfe4, 0x5c47cf9f, 0x30fa1ccd, 0x23dedb56, 0x13d1f50a, 0x64eddee7, 0x0820b0f7,
  0x46e07308, 0x1e2d1dfd, 0x17b06c32, 0x250036d8, 0x284dbf34, 0x68292ee0, 0x362ec87c, 0x087cb1eb, 0x76b46720,
  0x104130db, 0x71966387, 0x482dc43f, 0x2388ef25, 0x524144e1, 0x44bd834e, 0x448e7da3, 0x3fa6eaf9, 0x3cda215c,
  0x3a500cf3, 0x395cb432, 0x5195129f, 0x43945f87, 0x51862ca4, 0x56ea8ff1, 0x201034dc, 0x4d328ff5, 0x7d73a909,
  0x6234d379, 0x64cfbf9c, 0x36f6589a, 0x0a2ce98a, 0x5fe4d971, 0x03bc15c5, 0x44021d33, 0x16c1932b, 0x37503614,
  0x1acaf69d, 0x3f03b779, 0x49e61a03, 0x1f52d7ea, 0x1c6ddd5c, 0x062218ce, 0x07e7a11a, 0x1905757a, 0x7ce00a53,
  0x49f44f29, 0x4bcc70b5, 0x39feea55, 0x5242cee8, 0x3ce56b85, 0x00b81672, 0x46beeccc, 0x3ca0ad56, 0x2396cee8,
  0x78547f40, 0x6b08089b, 0x66a56751, 0x781e7e46, 0x1e2cf856, 0x3bc13591, 0x494a4202, 0x520494d7, 0x2d87459a,
  0x757555b6, 0x42284cc1, 0x1f478507, 0x75c95dff, 0x35ff8dd7, 0x4e4757ed, 0x2e11f88c, 0x5e1b5048, 0x420e6699,
  0x226b0695, 0x4d1679b4, 0x5a22646f, 0x161d1131, 0x125c68d9, 0x1313e32e, 0x4aa85724, 0x21dc7ec1, 0x4ffa29fe,
  0x72968382, 0x1ca8eef3, 0x3f3b1c28, 0x39c2fb6c, 0x6d76493f, 0x7a22a62e, 0x789b1c2a, 0x16e0cb53, 0x7deceeeb,
  0x0dc7e1c6, 0x5c75bf3d, 0x52218333, 0x106de4d6, 0x7dc64422, 0x65590ff4, 0x2c02ec30, 0x64a9ac67, 0x59cab2e9,
  0x4a21d2f3, 0x0f616e57, 0x23b54ee8, 0x02730aaa, 0x2f3c634d, 0x7117fc6c, 0x01ac6f05, 0x5a9ed20c, 0x158c4e2a,
  0x42b699f0, 0x0c7c14b3, 0x02bd9641, 0x15ad56fc, 0x1c722f60, 0x7da1af91, 0x23e0dbcb, 0x0e93e12b, 0x64b2791d,
  0x440d2476, 0x588ea8dd, 0x4665a658, 0x7446c418, 0x1877a774, 0x5626407e, 0x7f63bd46, 0x32d2dbd8, 0x3c790f4a,
  0x772b7239, 0x6f8b2826, 0x677ff609, 0x0dc82c11, 0x23ffe354, 0x2eac53a6, 0x16139e09, 0x0afd0dbc, 0x2a4d4237,
  0x56a368c7, 0x234325e4, 0x2dce9187, 0x32e8ea7e,
]);
