/** Tests for decoding NARs in Nix's compressions, including corrupt and truncated input. */
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { brotliCompressSync, constants, gzipSync, zstdCompressSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { hasProgram, runProgram, runTransform, sampleData } from "../../../test/support/codecs.ts";
import { ChildProcessTransform } from "./child-process-transform.ts";
import { CompressionError, UnknownCompressionError } from "./compression-type.ts";
import { createDecompressStream } from "./decompress-stream.ts";

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls `probe` until it returns a value (or gives up after 5 s). */
async function waitFor<T>(probe: () => T | undefined): Promise<T> {
  for (let i = 0; i < 500; i++) {
    const value = probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error("condition not met within 5 s");
}

const input = sampleData(2 * 1024 * 1024 + 5, 11);

/** Compressed `data` as Nix would send it, made by the real programs where they exist. */
function compressAs(name: string, data: Uint8Array): Uint8Array {
  switch (name) {
    case "xz":
      return runProgram("xz", ["-c", "-6"], data);
    case "bzip2":
      return runProgram("bzip2", ["-c"], data);
    case "gzip":
      return hasProgram("gzip") ? runProgram("gzip", ["-c"], data) : gzipSync(data);
    case "zstd":
      return hasProgram("zstd") ? runProgram("zstd", ["-c", "-q", "-3"], data) : zstdCompressSync(data);
    case "br":
      return brotliCompressSync(data, { params: { [constants.BROTLI_PARAM_QUALITY]: 5 } });
    default:
      return data;
  }
}

const compressedInput = new Map<string, Uint8Array>();
function compressedSample(name: string): Uint8Array {
  let data = compressedInput.get(name);
  if (!data) {
    data = compressAs(name, input);
    compressedInput.set(name, data);
  }
  return data;
}

const NAMES = ["none", "", "zstd", "br", "gzip", "xz", "bzip2"];
const COMPRESSED = ["zstd", "br", "gzip", "xz", "bzip2"];

describe("createDecompressStream", () => {
  it.each(NAMES)("decodes %j", async (name) => {
    const out = await runTransform(createDecompressStream(name), compressedSample(name), 50_000);
    expect(Buffer.compare(out, input)).toBe(0);
  });

  it.each(["zstd", "xz", "bzip2", "gzip"])("decodes concatenated %s streams as one", async (name) => {
    const half = input.length >> 1;
    const joined = Buffer.concat([
      compressAs(name, input.subarray(0, half)),
      compressAs(name, input.subarray(half)),
    ]);
    expect(Buffer.compare(await runTransform(createDecompressStream(name), joined), input)).toBe(0);
  });

  it.each(COMPRESSED)("errors on truncated %s input", async (name) => {
    const compressed = compressedSample(name);
    const truncated = compressed.subarray(0, Math.floor(compressed.length * 0.6));
    await expect(runTransform(createDecompressStream(name), truncated)).rejects.toThrow();
  });

  it.each(COMPRESSED)("errors on corrupted %s input", async (name) => {
    const corrupted = Buffer.from(compressedSample(name));
    const at = Math.floor(corrupted.length / 3);
    for (let i = 0; i < 64; i++)
      corrupted.writeUInt8((corrupted.readUInt8(at + i * 7) ^ 0x5a) & 0xff, at + i * 7);
    await expect(runTransform(createDecompressStream(name), corrupted)).rejects.toThrow();
  });

  it.each(COMPRESSED)("errors on garbage labelled %s", async (name) => {
    await expect(runTransform(createDecompressStream(name), sampleData(100_000, 2))).rejects.toThrow();
  });

  it.each(["lz4", "lzip", "compress", "bogus"])("rejects the unsupported name %j", (name) => {
    expect(() => createDecompressStream(name)).toThrow(UnknownCompressionError);
  });

  it("keeps memory bounded for a zstd bomb read slowly", async () => {
    const bomb = zstdCompressSync(new Uint8Array(256 * 1024 * 1024), {
      params: { [constants.ZSTD_c_compressionLevel]: 19 },
    });
    expect(bomb.length).toBeLessThan(64 * 1024);
    const stream = createDecompressStream("zstd");
    stream.end(bomb);
    let received = 0;
    let worstBuffered = 0;
    for await (const data of stream) {
      received += (data as Buffer).length;
      worstBuffered = Math.max(worstBuffered, stream.readableLength);
      if (received >= 8 * 1024 * 1024) break;
    }
    expect(received).toBeGreaterThanOrEqual(8 * 1024 * 1024);
    // The high-water mark plus one output buffer, not hundreds of MiB.
    expect(worstBuffered).toBeLessThanOrEqual(stream.readableHighWaterMark + 128 * 1024);
    expect(stream.destroyed).toBe(true);
  });

  it("keeps memory bounded for a program's output read slowly", async () => {
    const bomb = runProgram("xz", ["-c", "-1"], new Uint8Array(64 * 1024 * 1024));
    const stream = createDecompressStream("xz");
    stream.end(bomb);
    let received = 0;
    let worstBuffered = 0;
    for await (const data of stream) {
      received += (data as Buffer).length;
      worstBuffered = Math.max(worstBuffered, stream.readableLength);
      await new Promise((resolve) => setImmediate(resolve));
      if (received >= 4 * 1024 * 1024) break;
    }
    expect(worstBuffered).toBeLessThanOrEqual(stream.readableHighWaterMark + 128 * 1024);
  });
});

describe("ChildProcessTransform", () => {
  it("reports a missing program as a stream error", async () => {
    const stream = new ChildProcessTransform("garret-no-such-program", []);
    await expect(runTransform(stream, input)).rejects.toThrow(CompressionError);
  });

  it("reports a non-zero exit with the program's stderr", async () => {
    const stream = new ChildProcessTransform("sh", ["-c", "cat >/dev/null; echo boom >&2; exit 3"]);
    await expect(runTransform(stream, input)).rejects.toThrow(/status 3: boom/);
  });

  it("errors instead of hanging when the program stops reading early", async () => {
    const stream = new ChildProcessTransform("true", []);
    await expect(runTransform(stream, sampleData(8 * 1024 * 1024))).rejects.toThrow(CompressionError);
  });

  it("kills the program when destroyed", async () => {
    const pidFile = join(mkdtempSync(join(tmpdir(), "garret-cpt-")), "pid");
    const stream = new ChildProcessTransform("sh", ["-c", `echo $$ > ${pidFile}; exec sleep 60`]);
    const pid = await waitFor(() => {
      const text = existsSync(pidFile) ? readFileSync(pidFile, "utf8").trim() : "";
      return text ? Number(text) : undefined;
    });
    expect(isRunning(pid)).toBe(true);
    stream.destroy();
    await waitFor(() => (isRunning(pid) ? undefined : true));
  });
});
