/** Helpers shared by @garret/chunking's tests and GC tests: sample data and running system codec programs. */
import { spawnSync } from "node:child_process";
import { Readable, type Transform } from "node:stream";
import { pipeline } from "node:stream/promises";

/** Deterministic, moderately compressible bytes (text lines with pseudo-random numbers). */
export function sampleData(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  let state = seed >>> 0;
  let i = 0;
  while (i < size) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    const line = `/nix/store/${state.toString(36)}-pkg-${state % 97}/lib/file${state % 13}.so ${state}\n`;
    for (let j = 0; j < line.length && i < size; j++) out[i++] = line.charCodeAt(j);
  }
  return out;
}

export function hasProgram(name: string): boolean {
  const result = spawnSync(name, ["--version"], { stdio: "ignore" });
  return result.error === undefined && result.status === 0;
}

/** Runs a program on `input`, returning stdout; throws on failure. */
export function runProgram(name: string, args: string[], input: Uint8Array): Buffer {
  const result = spawnSync(name, args, { input, maxBuffer: 1 << 30 });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`${name} failed: ${result.stderr.toString()}`);
  return result.stdout;
}

/** Pushes `input` through `transform` in `pieceSize` writes and collects the output. */
export async function runTransform(
  transform: Transform,
  input: Uint8Array,
  pieceSize = 65_536,
): Promise<Buffer> {
  const out: Buffer[] = [];
  async function* pieces() {
    for (let off = 0; off < input.length; off += pieceSize) yield input.subarray(off, off + pieceSize);
  }
  await pipeline(Readable.from(pieces()), transform, async (source: AsyncIterable<Buffer>) => {
    for await (const data of source) out.push(data);
  });
  return Buffer.concat(out);
}
