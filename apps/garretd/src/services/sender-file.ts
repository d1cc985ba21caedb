/**
 * The compressed file a sender uploaded (`nix copy --to` PUTs each NAR in its own compression),
 * kept while it streams in so that the ingest pipeline can store it as the NAR's one chunk instead
 * of compressing the NAR again; ingest-nar.ts decides when (`senderFileFor`, `storableSenderFile`).
 * Only a file of at most `limit` bytes is kept: beyond that the NAR is not kept whole in memory.
 */
export class SenderFile {
  readonly compression: string;
  private parts: Uint8Array[] | null = [];
  private size = 0;
  private readonly limit: number;

  constructor(compression: string, limit: number) {
    this.compression = compression;
    this.limit = limit;
  }

  /** The next bytes of the file, exactly as received. */
  add(piece: Uint8Array): void {
    if (this.parts === null) return;
    this.size += piece.length;
    if (this.size > this.limit) {
      this.parts = null;
      return;
    }
    this.parts.push(piece);
  }

  /** The whole file, or null when it outgrew the limit. */
  bytes(): Uint8Array | null {
    if (this.parts === null) return null;
    return this.parts.length === 1 ? (this.parts[0] as Uint8Array) : Buffer.concat(this.parts, this.size);
  }
}
