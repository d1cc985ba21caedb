/**
 * Reading request bodies as byte streams: exact-length reads for the NAR-info preamble, a cap on
 * how many bytes are taken for the NAR, and a one-shot async iterator over what remains. Works on
 * Node's IncomingMessage and on web ReadableStreams alike (both are AsyncIterable).
 */

export class ByteReader {
  private readonly iterator: AsyncIterator<Uint8Array>;
  private leftover: Uint8Array | null = null;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  /** Reads exactly `n` bytes; returns null if the stream ends first. */
  async readExact(n: number): Promise<Buffer | null> {
    const parts: Uint8Array[] = [];
    let have = 0;
    while (have < n) {
      const piece = await this.nextPiece();
      if (piece === null) return null;
      const need = n - have;
      if (piece.length > need) {
        parts.push(piece.subarray(0, need));
        this.leftover = piece.subarray(need);
        have = n;
      } else {
        parts.push(piece);
        have += piece.length;
      }
    }
    return Buffer.concat(parts, n);
  }

  /** The rest of the stream, at most `limit` bytes of it (atticd ignores bytes past `nar_size`). */
  async *rest(limit = Number.POSITIVE_INFINITY): AsyncGenerator<Uint8Array> {
    let remaining = limit;
    while (remaining > 0) {
      const piece = await this.nextPiece();
      if (piece === null) return;
      if (piece.length > remaining) {
        yield piece.subarray(0, remaining);
        return;
      }
      remaining -= piece.length;
      yield piece;
    }
  }

  /**
   * Reads and discards what is left of the stream, up to `limit` bytes; false if more remains.
   * A handler that answers before the request body has ended (even just the final chunk of a
   * chunked body) makes Node close the connection after the response, and a keep-alive client
   * that already reused it for its next upload sees "other side closed".
   */
  async drain(limit = 1024 * 1024): Promise<boolean> {
    let left = limit;
    for (;;) {
      const piece = await this.nextPiece();
      if (piece === null) return true;
      left -= piece.length;
      if (left < 0) return false;
    }
  }

  private async nextPiece(): Promise<Uint8Array | null> {
    if (this.leftover) {
      const l = this.leftover;
      this.leftover = null;
      return l;
    }
    for (;;) {
      const { value, done } = await this.iterator.next();
      if (done) return null;
      if (value.length > 0) return value;
    }
  }
}
