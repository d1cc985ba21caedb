/**
 * Freeing buffer memory as soon as it is used, instead of when V8 next collects garbage. Bytes live
 * outside the JavaScript heap (ArrayBuffer backing stores) and are freed only when a GC finds their
 * small wrapper objects dead; in a compression worker that comes late (tens of MB of dead codec
 * output per worker under concurrent uploads, docs/performance.md). Detaching an ArrayBuffer
 * (`transfer(0)`) releases its backing store at once.
 */

/** Whether `data` spans its whole, exactly sized ArrayBuffer (not a view into a pool or a larger buffer). */
export function spansWholeBuffer(data: Uint8Array): data is Uint8Array<ArrayBuffer> {
  const { buffer } = data;
  return (
    buffer instanceof ArrayBuffer &&
    !buffer.detached &&
    !buffer.resizable &&
    data.byteOffset === 0 &&
    data.byteLength === buffer.byteLength
  );
}

/**
 * Frees the whole buffer behind `data` now. The caller promises that nothing else uses any part
 * of that buffer (e.g. a codec's output buffer after its bytes were copied out). Buffers from
 * Node's shared pool (never larger than the pool) and SharedArrayBuffers are left alone.
 */
export function freeNow(data: Uint8Array): void {
  const { buffer } = data;
  if (buffer instanceof ArrayBuffer && !buffer.detached && buffer.byteLength > Buffer.poolSize) {
    buffer.transfer(0);
  }
}
