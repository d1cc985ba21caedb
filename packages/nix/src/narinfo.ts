/**
 * `.narinfo` files: the metadata Nix fetches for each store path from a binary cache.
 *
 * Sample (cache.nixos.org, as atticd's tests use it):
 *
 *   StorePath: /nix/store/xcp9cav49dmsjbwdjlmkjxj10gkpx553-hello-2.10
 *   URL: nar/0nqgf15qfiacfxrgm2wkw0gwwncjqqzzalj8rs14w9srkydkjsk9.nar.xz
 *   Compression: xz
 *   FileHash: sha256:0nqgf15qfiacfxrgm2wkw0gwwncjqqzzalj8rs14w9srkydkjsk9
 *   FileSize: 41104
 *   NarHash: sha256:16mvl7v0ylzcg2n3xzjn41qhzbmgcn5iyarx16nn5l2r36n2kqci
 *   NarSize: 206104
 *   References: 563528481rvhc5kxwipjmg6rqrl95mdx-glibc-2.33-56 xcp9cav49dmsjbwdjlmkjxj10gkpx553-hello-2.10
 *   Deriver: vvb4wxmnjixmrkhmj2xb75z62hrr41i7-hello-2.10.drv
 *   Sig: cache.nixos.org-1:lo9EfNIL4eGRuNh7DTbAAffWPpI2SlYC/8uP7JnhgmfRIUNGhSbFe8qEaKN0mFS02TuhPpXFPNtRkFcCp0hGAQ==
 *
 * Parsing follows Nix 2.8 `src/libstore/nar-info.cc` (`NarInfo::NarInfo`): `Key: value` lines whose
 * value starts two characters after the colon, unknown keys ignored, `Deriver: unknown-deriver`
 * meaning none, a missing `Compression` meaning bzip2, and StorePath, URL, NarHash and a non-zero
 * NarSize required. It is stricter where Nix's leniency would only hide a broken or hostile file:
 * repeated single-valued keys, CR characters and files over 1 MiB are errors. Like attic, a leading
 * blank line and trailing whitespace are accepted.
 *
 * Formatting follows atticd's field order (attic `server/src/narinfo/mod.rs`), see `formatNarInfo`.
 */

import { NixFormatError } from "./errors.ts";
import { formatSha256Nix32, parseSha256 } from "./hash.ts";
import { assertOneLine, hasControlChars } from "./line-text.ts";
import { parseStorePath, parseStorePathBaseName, storeDirOf } from "./store-path.ts";

export interface NarInfo {
  /** Full store path; the store dir is its parent directory. */
  storePath: string;
  /** Relative (`nar/<hash>.nar`) or absolute URL of the (compressed) NAR. */
  url: string;
  compression: string;
  fileHash?: string;
  fileSize?: number;
  /** `sha256:` hash in any accepted encoding, kept as written. */
  narHash: string;
  narSize: number;
  /** Base names, in file order. */
  references: string[];
  system?: string;
  /** Base name of the deriver. */
  deriver?: string;
  sigs: string[];
  ca?: string;
}

export const MAX_NARINFO_SIZE = 1024 * 1024;

const UINT_RE = /^[0-9]+$/;

function corrupt(message: string): NixFormatError {
  return new NixFormatError("InvalidNarInfo", `NAR info is corrupt: ${message}`);
}

function parseUint(key: string, value: string): number {
  const n = Number(value);
  if (!UINT_RE.test(value) || !Number.isSafeInteger(n)) throw corrupt(`${key} is not a non-negative integer`);
  return n;
}

function parseHashField(key: string, value: string): string {
  try {
    parseSha256(value);
  } catch (err) {
    throw corrupt(`${key}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return value;
}

function parseBaseName(key: string, value: string): string {
  try {
    parseStorePathBaseName(value);
  } catch (err) {
    throw corrupt(`${key}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return value;
}

const SINGLE_KEYS = new Set([
  "StorePath",
  "URL",
  "Compression",
  "FileHash",
  "FileSize",
  "NarHash",
  "NarSize",
  "References",
  "System",
  "Deriver",
  "CA",
]);

export function parseNarInfo(text: string): NarInfo {
  if (text.length > MAX_NARINFO_SIZE) throw corrupt(`larger than ${MAX_NARINFO_SIZE} bytes`);
  if (text.includes("\r")) throw corrupt("contains a carriage return (lines must end with \\n only)");
  if (hasControlChars(text.replaceAll("\n", ""))) throw corrupt("contains a control character (NUL, tab, …)");

  let storePath: string | undefined;
  let url: string | undefined;
  let compression: string | undefined;
  let narHash: string | undefined;
  let narSize: number | undefined;
  const info: Partial<NarInfo> = {};
  const references: string[] = [];
  const sigs: string[] = [];
  const seen = new Set<string>();

  const lines = text.trim().split("\n");
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n] ?? "";
    if (line === "") continue;
    const colon = line.indexOf(":");
    if (colon < 0) throw corrupt(`line ${n + 1} has no ':'`);
    const key = line.slice(0, colon);
    const value = line.slice(colon + 2);
    if (SINGLE_KEYS.has(key)) {
      if (seen.has(key)) throw corrupt(`${key} appears more than once`);
      seen.add(key);
    }
    switch (key) {
      case "StorePath":
        try {
          parseStorePath(value, storeDirOf(value));
        } catch (err) {
          throw corrupt(`StorePath: ${err instanceof Error ? err.message : String(err)}`);
        }
        storePath = value;
        break;
      case "URL":
        url = value;
        break;
      case "Compression":
        compression = value;
        break;
      case "FileHash":
        info.fileHash = parseHashField(key, value);
        break;
      case "FileSize":
        info.fileSize = parseUint(key, value);
        break;
      case "NarHash":
        narHash = parseHashField(key, value);
        break;
      case "NarSize":
        narSize = parseUint(key, value);
        break;
      case "References":
        for (const ref of value.split(" ")) if (ref !== "") references.push(parseBaseName(key, ref));
        break;
      case "System":
        info.system = value;
        break;
      case "Deriver":
        if (value !== "unknown-deriver") info.deriver = parseBaseName(key, value);
        break;
      case "Sig":
        if (value !== "" && !sigs.includes(value)) sigs.push(value);
        break;
      case "CA":
        if (value === "") throw corrupt("CA is empty");
        info.ca = value;
        break;
    }
  }

  if (storePath === undefined) throw corrupt("missing StorePath");
  if (url === undefined || url === "") throw corrupt("missing URL");
  if (narHash === undefined) throw corrupt("missing NarHash");
  if (narSize === undefined || narSize === 0) throw corrupt("missing or zero NarSize");

  const result: NarInfo = {
    storePath,
    url,
    // Nix reads a missing Compression as bzip2; keeping that makes the parsed value mean the same thing.
    compression: compression === undefined || compression === "" ? "bzip2" : compression,
    narHash,
    narSize,
    references,
    sigs,
  };
  if (info.fileHash !== undefined) result.fileHash = info.fileHash;
  if (info.fileSize !== undefined) result.fileSize = info.fileSize;
  if (info.system !== undefined) result.system = info.system;
  if (info.deriver !== undefined) result.deriver = info.deriver;
  if (info.ca !== undefined) result.ca = info.ca;
  return result;
}

/**
 * Serializes in atticd's order: StorePath, URL, Compression, [FileHash], [FileSize], NarHash,
 * NarSize, References, [System], [Deriver], [Sig…], [CA]. `References: ` keeps its trailing space
 * when empty, because Nix 2.8 otherwise reads the next line as the value. Values come from parsed
 * or server-built data and are checked at the edge; a value that would still break its line (CR,
 * LF, NUL: data written before those checks, or a bug) is refused here rather than served.
 */
export function formatNarInfo(info: NarInfo): string {
  assertOneLine("StorePath", info.storePath);
  assertOneLine("URL", info.url);
  assertOneLine("Compression", info.compression);
  assertOneLine("NarHash", info.narHash);
  if (info.fileHash !== undefined) assertOneLine("FileHash", info.fileHash);
  for (const ref of info.references) assertOneLine("References", ref);
  if (info.system !== undefined) assertOneLine("System", info.system);
  if (info.deriver !== undefined) assertOneLine("Deriver", info.deriver);
  for (const sig of info.sigs) assertOneLine("Sig", sig);
  if (info.ca !== undefined) assertOneLine("CA", info.ca);
  let s = `StorePath: ${info.storePath}\nURL: ${info.url}\nCompression: ${info.compression}\n`;
  if (info.fileHash !== undefined) s += `FileHash: ${info.fileHash}\n`;
  if (info.fileSize !== undefined) s += `FileSize: ${info.fileSize}\n`;
  s += `NarHash: ${info.narHash}\nNarSize: ${info.narSize}\nReferences: ${info.references.join(" ")}\n`;
  if (info.system !== undefined) s += `System: ${info.system}\n`;
  if (info.deriver !== undefined) s += `Deriver: ${info.deriver}\n`;
  for (const sig of info.sigs) s += `Sig: ${sig}\n`;
  if (info.ca !== undefined) s += `CA: ${info.ca}\n`;
  return s;
}

/**
 * The string Nix signs and verifies (`ValidPathInfo::fingerprint`):
 * `1;<storePath>;sha256:<nix32>;<narSize>;<full reference paths, sorted, comma-joined>`.
 * References may be base names (resolved against the store dir of `storePath`) or full paths.
 * They are sorted because Nix keeps them in an ordered set before fingerprinting, whatever order
 * the narinfo lists them in.
 */
export function fingerprint(
  storePath: string,
  narHash: string,
  narSize: number,
  references: string[],
): string {
  const prefix = `${storeDirOf(storePath)}/`;
  const full = references.map((r) => (r.charCodeAt(0) === 0x2f ? r : prefix + r));
  // Store paths are ASCII, so UTF-16 order is byte order.
  full.sort();
  return `1;${storePath};${formatSha256Nix32(parseSha256(narHash))};${narSize};${full.join(",")}`;
}
