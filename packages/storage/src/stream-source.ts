/**
 * Reading an upload body while remembering whether a failure came from the body itself. Backends
 * rethrow such failures unchanged (a client that hung up is not a storage fault and must not be
 * reported as one) and wrap everything else in StorageError.
 */
import type { Readable } from "node:stream";

export interface SourceState {
  failed: boolean;
}

/** Yields the body's chunks as Buffers; sets `state.failed` if the body errors. */
export async function* chunksOf(
  body: NodeJS.ReadableStream | Readable,
  state: SourceState,
): AsyncGenerator<Buffer, void, undefined> {
  try {
    for await (const chunk of body as AsyncIterable<unknown>) {
      if (typeof chunk === "string") yield Buffer.from(chunk);
      else if (Buffer.isBuffer(chunk)) yield chunk;
      else if (chunk instanceof Uint8Array)
        yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      else throw new TypeError("upload body yielded a non-binary chunk");
    }
  } catch (err) {
    state.failed = true;
    throw err;
  }
}
