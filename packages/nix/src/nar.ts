/**
 * A streaming validator for NAR (Nix ARchive) serialisations received from untrusted clients.
 *
 * A NAR is a sequence of strings, each an 8-byte little-endian length followed by the bytes and
 * zero padding to a multiple of 8. The `attic-test-no-deps` NAR (144 bytes) reads as:
 *
 *   "nix-archive-1" "(" "type" "regular" "contents" <28 bytes: "Hi! I have no dependencies.\n"> ")"
 *
 * Grammar (what `nix-store --dump` writes):
 *   nar       = "nix-archive-1" node
 *   node      = "(" "type" ( regular | symlink | directory ) ")"
 *   regular   = "regular" [ "executable" "" ] "contents" <bytes>
 *   symlink   = "symlink" "target" <string>
 *   directory = "directory" { "entry" "(" "name" <string> "node" node ")" }
 *
 * Follows Nix `src/libutil/archive.cc` (`parseDump`/`parse`), with the same checks on entry names
 * (non-empty, not `.`/`..`, no `/` or NUL, strictly increasing byte order), plus what a server
 * needs against hostile input: only the canonical form Nix itself writes is accepted, string
 * lengths are bounded before anything is buffered, nesting depth is limited, padding must be zero
 * and nothing may follow the root node. File contents are counted, never buffered, so memory use is
 * bounded by the name/target limits whatever the NAR size.
 */

import { NixFormatError } from "./errors.ts";

export interface NarValidatorLimits {
  /** Maximum number of directories enclosing a node. Default 256. */
  maxDepth?: number;
  /** Maximum entry name length in bytes. Default 255 (NAME_MAX). */
  maxNameLength?: number;
  /** Maximum symlink target length in bytes. Default 4096 (PATH_MAX). */
  maxTargetLength?: number;
}

const MAGIC = "nix-archive-1";
/** Longer than every keyword (the longest is the magic), so a keyword never needs more. */
const MAX_TOKEN_LENGTH = 16;

// Grammar states: the meaning of the next string.
const S_MAGIC = 0;
const S_OPEN = 1;
const S_TYPE_KW = 2;
const S_TYPE = 3;
const S_REGULAR = 4;
const S_EXECUTABLE_VALUE = 5;
const S_CONTENTS_KW = 6;
const S_CONTENTS = 7;
const S_CLOSE = 8;
const S_TARGET_KW = 9;
const S_TARGET = 10;
const S_DIRECTORY = 11;
const S_ENTRY_OPEN = 12;
const S_NAME_KW = 13;
const S_NAME = 14;
const S_NODE_KW = 15;
const S_ENTRY_CLOSE = 16;
const S_DONE = 17;

// Lexer phases within one string.
const P_LENGTH = 0;
const P_BODY = 1;
const P_SKIP = 2;
const P_PADDING = 3;

const TWO_POW_32 = 2 ** 32;
/** High 32 bits above which a length exceeds Number.MAX_SAFE_INTEGER. */
const MAX_SAFE_HIGH = 0x1fffff;

function printable(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length && i < MAX_TOKEN_LENGTH; i++) {
    const c = bytes[i] ?? 0;
    s += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : "?";
  }
  return JSON.stringify(s);
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

export class NarValidator {
  private readonly maxDepth: number;
  private readonly maxNameLength: number;
  private readonly maxTargetLength: number;

  private state = S_MAGIC;
  private phase = P_LENGTH;
  private readonly lengthBuf = new Uint8Array(8);
  private readonly lengthView = new DataView(this.lengthBuf.buffer);
  private lengthFill = 0;
  private readonly body: Uint8Array;
  private bodyLength = 0;
  private bodyFill = 0;
  private skipRemaining = 0;
  private paddingRemaining = 0;
  /** One entry per open directory: the previous entry name, for the ordering check. */
  private readonly dirs: (Uint8Array | null)[] = [];
  private position = 0;
  private failure: NixFormatError | undefined;

  constructor(limits: NarValidatorLimits = {}) {
    this.maxDepth = limits.maxDepth ?? 256;
    this.maxNameLength = limits.maxNameLength ?? 255;
    this.maxTargetLength = limits.maxTargetLength ?? 4096;
    this.body = new Uint8Array(Math.max(MAX_TOKEN_LENGTH, this.maxNameLength, this.maxTargetLength));
  }

  /** Bytes accepted so far (the NAR size once `end()` has succeeded). */
  get bytesRead(): number {
    return this.position;
  }

  /** True once the root node has been closed. */
  get complete(): boolean {
    return this.state === S_DONE;
  }

  push(chunk: Uint8Array): void {
    if (this.failure) throw this.failure;
    try {
      this.consume(chunk);
    } catch (err) {
      if (err instanceof NixFormatError) this.failure = err;
      throw err;
    }
  }

  end(): void {
    if (this.failure) throw this.failure;
    if (this.state !== S_DONE) {
      this.failure = this.fail(`premature end of NAR after ${this.position} bytes`);
      throw this.failure;
    }
  }

  private fail(reason: string): NixFormatError {
    return new NixFormatError("InvalidNar", `invalid NAR at byte ${this.position}: ${reason}`);
  }

  private consume(chunk: Uint8Array): void {
    const n = chunk.length;
    let off = 0;
    while (off < n) {
      if (this.state === S_DONE) throw this.fail("trailing data after the end of the NAR");
      switch (this.phase) {
        case P_LENGTH: {
          const take = Math.min(8 - this.lengthFill, n - off);
          this.lengthBuf.set(chunk.subarray(off, off + take), this.lengthFill);
          this.lengthFill += take;
          off += take;
          this.position += take;
          if (this.lengthFill === 8) {
            this.lengthFill = 0;
            this.onLength();
          }
          break;
        }
        case P_BODY: {
          const take = Math.min(this.bodyLength - this.bodyFill, n - off);
          this.body.set(chunk.subarray(off, off + take), this.bodyFill);
          this.bodyFill += take;
          off += take;
          this.position += take;
          if (this.bodyFill === this.bodyLength) this.afterValue();
          break;
        }
        case P_SKIP: {
          const take = Math.min(this.skipRemaining, n - off);
          this.skipRemaining -= take;
          off += take;
          this.position += take;
          if (this.skipRemaining === 0) this.afterValue();
          break;
        }
        default: {
          if (chunk[off] !== 0) throw this.fail("non-zero padding");
          off++;
          this.position++;
          if (--this.paddingRemaining === 0) {
            this.phase = P_LENGTH;
            this.dispatch();
          }
        }
      }
    }
  }

  private onLength(): void {
    const high = this.lengthView.getUint32(4, true);
    if (high > MAX_SAFE_HIGH) throw this.fail("absurd string length");
    const length = high * TWO_POW_32 + this.lengthView.getUint32(0, true);
    this.paddingRemaining = (8 - (length % 8)) % 8;
    if (this.state === S_CONTENTS) {
      this.skipRemaining = length;
      this.phase = P_SKIP;
    } else {
      const max =
        this.state === S_NAME
          ? this.maxNameLength
          : this.state === S_TARGET
            ? this.maxTargetLength
            : MAX_TOKEN_LENGTH;
      if (length > max) {
        throw this.fail(`absurd string length ${length} for ${this.expected()} (at most ${max} bytes)`);
      }
      this.bodyLength = length;
      this.bodyFill = 0;
      this.phase = P_BODY;
    }
    if (length === 0) this.afterValue();
  }

  private afterValue(): void {
    if (this.paddingRemaining > 0) {
      this.phase = P_PADDING;
    } else {
      this.phase = P_LENGTH;
      this.dispatch();
    }
  }

  private expected(): string {
    switch (this.state) {
      case S_MAGIC:
        return "the NAR magic";
      case S_NAME:
        return "an entry name";
      case S_TARGET:
        return "a symlink target";
      default:
        return "a keyword";
    }
  }

  private is(token: string): boolean {
    if (this.bodyLength !== token.length) return false;
    for (let i = 0; i < token.length; i++) if (this.body[i] !== token.charCodeAt(i)) return false;
    return true;
  }

  private unexpected(what: string): NixFormatError {
    return this.fail(`expected ${what}, got ${printable(this.body.subarray(0, this.bodyLength))}`);
  }

  private nodeDone(): void {
    this.state = this.dirs.length === 0 ? S_DONE : S_ENTRY_CLOSE;
  }

  private dispatch(): void {
    switch (this.state) {
      case S_MAGIC:
        if (!this.is(MAGIC)) throw this.fail("bad magic: input doesn't look like a Nix archive");
        this.state = S_OPEN;
        return;
      case S_OPEN:
        if (!this.is("(")) throw this.unexpected('"("');
        this.state = S_TYPE_KW;
        return;
      case S_TYPE_KW:
        if (!this.is("type")) throw this.unexpected('"type"');
        this.state = S_TYPE;
        return;
      case S_TYPE:
        if (this.is("regular")) this.state = S_REGULAR;
        else if (this.is("symlink")) this.state = S_TARGET_KW;
        else if (this.is("directory")) {
          this.dirs.push(null);
          this.state = S_DIRECTORY;
        } else throw this.unexpected("a file type");
        return;
      case S_REGULAR:
        if (this.is("executable")) this.state = S_EXECUTABLE_VALUE;
        else if (this.is("contents")) this.state = S_CONTENTS;
        else throw this.unexpected('"executable" or "contents"');
        return;
      case S_EXECUTABLE_VALUE:
        if (this.bodyLength !== 0) throw this.fail("executable marker has a non-empty value");
        this.state = S_CONTENTS_KW;
        return;
      case S_CONTENTS_KW:
        if (!this.is("contents")) throw this.unexpected('"contents"');
        this.state = S_CONTENTS;
        return;
      case S_CONTENTS:
        this.state = S_CLOSE;
        return;
      case S_CLOSE:
        if (!this.is(")")) throw this.unexpected('")"');
        this.nodeDone();
        return;
      case S_TARGET_KW:
        if (!this.is("target")) throw this.unexpected('"target"');
        this.state = S_TARGET;
        return;
      case S_TARGET:
        if (this.bodyLength === 0) throw this.fail("empty symlink target");
        if (this.body.subarray(0, this.bodyLength).includes(0))
          throw this.fail("symlink target contains NUL");
        this.state = S_CLOSE;
        return;
      case S_DIRECTORY:
        if (this.is(")")) {
          this.dirs.pop();
          this.nodeDone();
        } else if (this.is("entry")) this.state = S_ENTRY_OPEN;
        else throw this.unexpected('"entry" or ")"');
        return;
      case S_ENTRY_OPEN:
        if (!this.is("(")) throw this.unexpected('"("');
        this.state = S_NAME_KW;
        return;
      case S_NAME_KW:
        if (!this.is("name")) throw this.unexpected('"name"');
        this.state = S_NAME;
        return;
      case S_NAME:
        this.checkName();
        this.state = S_NODE_KW;
        return;
      case S_NODE_KW:
        if (!this.is("node")) throw this.unexpected('"node"');
        if (this.dirs.length > this.maxDepth)
          throw this.fail(`nesting deeper than ${this.maxDepth} directories`);
        this.state = S_OPEN;
        return;
      case S_ENTRY_CLOSE:
        if (!this.is(")")) throw this.unexpected('")"');
        this.state = S_DIRECTORY;
        return;
    }
  }

  private checkName(): void {
    const name = this.body.subarray(0, this.bodyLength);
    if (name.length === 0) throw this.fail("empty entry name");
    if (this.is(".") || this.is("..")) throw this.fail(`entry name ${printable(name)} is not allowed`);
    if (name.includes(0x2f)) throw this.fail("entry name contains '/'");
    if (name.includes(0)) throw this.fail("entry name contains NUL");
    const top = this.dirs.length - 1;
    const prev = this.dirs[top];
    if (prev && compareBytes(prev, name) >= 0) {
      throw this.fail(
        `directory entries are not strictly sorted (${printable(name)} after ${printable(prev)})`,
      );
    }
    this.dirs[top] = name.slice();
  }
}
