/**
 * Whether some bytes are exactly a sequence of complete zstd frames (RFC 8878 section 3.1.1), read
 * from the frame and block headers without decoding. Node's zstd decoder stops at the end of the
 * last frame it recognises and ignores whatever follows, so a file that decoded to the right NAR
 * may still carry trailing bytes another decoder (Nix's) rejects; a file stored as a chunk as the
 * sender made it must pass this check too. Skippable frames and frames that need a dictionary are
 * not accepted: decoders may differ on them, and no Nix writes them.
 */

const FRAME_MAGIC = 0xfd2fb528;
const BLOCK_HEADER_BYTES = 3;
const BLOCK_TYPE_RAW = 0;
const BLOCK_TYPE_RLE = 1;
const BLOCK_TYPE_COMPRESSED = 2;
const CHECKSUM_BYTES = 4;

/** True when `bytes` is one or more standard zstd frames and nothing else. */
export function isZstdFramesOnly(bytes: Uint8Array): boolean {
  if (bytes.length === 0) return false;
  let off = 0;
  while (off < bytes.length) {
    const end = frameEnd(bytes, off);
    if (end === null) return false;
    off = end;
  }
  return true;
}

/** Where the frame starting at `start` ends, or null when it is not a complete standard frame. */
function frameEnd(b: Uint8Array, start: number): number | null {
  if (start + 5 > b.length) return null;
  const magic =
    ((b[start] as number) | ((b[start + 1] as number) << 8) | ((b[start + 2] as number) << 16)) +
    (b[start + 3] as number) * 0x1000000;
  if (magic !== FRAME_MAGIC) return null;
  const descriptor = b[start + 4] as number;
  const fcsFlag = descriptor >> 6;
  const singleSegment = (descriptor >> 5) & 1;
  const reserved = (descriptor >> 3) & 1;
  const checksum = (descriptor >> 2) & 1;
  const dictFlag = descriptor & 3;
  if (reserved !== 0 || dictFlag !== 0) return null;
  const fcsBytes = [singleSegment ? 1 : 0, 2, 4, 8][fcsFlag] as number;
  let off = start + 5 + (singleSegment ? 0 : 1) + fcsBytes;
  for (;;) {
    if (off + BLOCK_HEADER_BYTES > b.length) return null;
    const header = (b[off] as number) | ((b[off + 1] as number) << 8) | ((b[off + 2] as number) << 16);
    off += BLOCK_HEADER_BYTES;
    const last = header & 1;
    const type = (header >> 1) & 3;
    const size = header >>> 3;
    if (type === BLOCK_TYPE_RAW || type === BLOCK_TYPE_COMPRESSED) off += size;
    else if (type === BLOCK_TYPE_RLE) off += 1;
    else return null;
    if (off > b.length) return null;
    if (last) break;
  }
  if (checksum) off += CHECKSUM_BYTES;
  return off <= b.length ? off : null;
}
