/** Upload file names and compression detection for `nix copy --to` NAR uploads. */
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { AtticError } from "../errors.ts";
import { isNixNarFileName, parseNixNarFileName, sniffCompression } from "./nix-upload.ts";

const FILE_HASH = "1w1fff338fvdw53sqgamddn1b2xgds473pv6y13gizdbqjv4i5p3";
const NAR_START = Buffer.concat([Buffer.from([13, 0, 0, 0, 0, 0, 0, 0]), Buffer.from("nix-archive-1\0\0\0")]);

describe("parseNixNarFileName", () => {
  it("reads the file hash and the compression Nix 2.8 names by extension", () => {
    expect(parseNixNarFileName(`${FILE_HASH}.nar.xz`)).toMatchObject({
      fileHashNix32: FILE_HASH,
      compression: "xz",
    });
    expect(parseNixNarFileName(`${FILE_HASH}.nar.zst`)?.compression).toBe("zstd");
    expect(parseNixNarFileName(`${FILE_HASH}.nar.bz2`)?.compression).toBe("bzip2");
    expect(parseNixNarFileName(`${FILE_HASH}.nar.br`)?.compression).toBe("br");
    expect(parseNixNarFileName(`${FILE_HASH}.nar`)?.compression).toBeNull();
    expect(parseNixNarFileName(`${FILE_HASH}.nar`)?.fileHash).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it("leaves download names and other files alone, and refuses unknown extensions", () => {
    expect(parseNixNarFileName("nm1w9sdm6j6icmhd2q3260hl1w9zj6li.nar")).toBeNull();
    expect(isNixNarFileName("nm1w9sdm6j6icmhd2q3260hl1w9zj6li.nar")).toBe(false);
    expect(isNixNarFileName(`${FILE_HASH}.nar.xz`)).toBe(true);
    expect(isNixNarFileName(`${FILE_HASH}.narinfo`)).toBe(false);
    expect(parseNixNarFileName(`${FILE_HASH.replace("1", "e")}.nar`)).toBeNull();
    expect(() => parseNixNarFileName(`${FILE_HASH}.nar.rar`)).toThrow(AtticError);
  });
});

describe("sniffCompression", () => {
  it("tells gzip, xz, zstd and bzip2 from a raw NAR", () => {
    expect(sniffCompression(gzipSync(NAR_START))).toBe("gzip");
    expect(sniffCompression(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00]))).toBe("xz");
    expect(sniffCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x24]))).toBe("zstd");
    expect(sniffCompression(Buffer.from("BZh91AY&SY"))).toBe("bzip2");
    expect(sniffCompression(NAR_START)).toBe("none");
    expect(sniffCompression(Buffer.alloc(0))).toBe("none");
  });
});
