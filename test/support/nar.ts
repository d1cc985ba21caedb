/**
 * Builds NAR bytes in tests without Nix: the serialisation `nix-store --dump` produces for a tree
 * of regular files, executables, symlinks and directories (Nix `src/libutil/archive.cc`).
 *
 *   "nix-archive-1" "(" "type" "regular" "contents" <bytes> ")"   (each string: u64le length, bytes, zero padding to 8)
 */
import { createHash } from "node:crypto";

export type NarNode =
  | { type: "regular"; contents: Uint8Array | string; executable?: boolean }
  | { type: "symlink"; target: string }
  | { type: "directory"; entries: Record<string, NarNode> };

function str(out: Buffer[], s: Uint8Array | string): void {
  const bytes = typeof s === "string" ? Buffer.from(s) : Buffer.from(s);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(bytes.length));
  out.push(len, bytes);
  const pad = (8 - (bytes.length % 8)) % 8;
  if (pad) out.push(Buffer.alloc(pad));
}

function node(out: Buffer[], n: NarNode): void {
  str(out, "(");
  str(out, "type");
  if (n.type === "regular") {
    str(out, "regular");
    if (n.executable) {
      str(out, "executable");
      str(out, "");
    }
    str(out, "contents");
    str(out, n.contents);
  } else if (n.type === "symlink") {
    str(out, "symlink");
    str(out, "target");
    str(out, n.target);
  } else {
    str(out, "directory");
    for (const name of Object.keys(n.entries).sort()) {
      str(out, "entry");
      str(out, "(");
      str(out, "name");
      str(out, name);
      str(out, "node");
      node(out, n.entries[name] as NarNode);
      str(out, ")");
    }
  }
  str(out, ")");
}

export function makeNar(root: NarNode): Buffer {
  const out: Buffer[] = [];
  str(out, "nix-archive-1");
  node(out, root);
  return Buffer.concat(out);
}

export function narOfFile(contents: Uint8Array | string): Buffer {
  return makeNar({ type: "regular", contents });
}

export function sha256Hex(data: Uint8Array): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

/** Deterministic pseudo-random bytes (attic's LCG), for content that does not compress. */
export function lcgBytes(size: number, seed = 42): Buffer {
  const out = Buffer.alloc(size);
  let state = seed >>> 0;
  for (let i = 0; i < size; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = (state >>> (i % 24)) & 0xff;
  }
  return out;
}

/** A random valid store path hash (nix-base32 alphabet). */
export function randomStorePathHash(): string {
  const alphabet = "0123456789abcdfghijklmnpqrsvwxyz";
  let s = "";
  const bytes = createHash("sha256").update(Math.random().toString()).update(String(Date.now())).digest();
  for (let i = 0; i < 32; i++) s += alphabet[(bytes[i] as number) % 32];
  return s;
}
