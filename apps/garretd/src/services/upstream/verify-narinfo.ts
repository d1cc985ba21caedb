/**
 * Checks an upstream's narinfo before garret serves or ingests anything it names: it must parse,
 * describe the requested store path in the cache's store dir, and carry a signature by one of the
 * keys trusted for that upstream over the path's fingerprint (Nix's `require-sigs` rule). What
 * passes is reduced to the fields garret republishes; unknown lines are dropped.
 */
import {
  fingerprint,
  formatSha256Hex,
  NixFormatError,
  parseNarInfo,
  parsePublicKey,
  parseSha256,
  parseStorePath,
  parseStorePathBaseName,
  verifySignature,
} from "@garret/nix";

export interface VerifiedNarInfo {
  storePath: string;
  /** Relative to the upstream's base URL, or absolute. */
  url: string;
  compression: string;
  /** `sha256:<hex>`, the form garret stores. */
  narHash: string;
  narSize: number;
  /** Base names. */
  references: string[];
  system?: string;
  deriver?: string;
  ca?: string;
  /** The signatures that verified against a trusted key (others are dropped). */
  sigs: string[];
}

export class NarInfoRejected extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NarInfoRejected";
  }
}

/** Control characters would let an upstream add lines to the narinfo garret republishes. */
function unsafe(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

export function verifyUpstreamNarInfo(
  text: string,
  expected: { storePathHash: string; storeDir: string; trustedKeys: readonly string[] },
): VerifiedNarInfo {
  let info: ReturnType<typeof parseNarInfo>;
  try {
    info = parseNarInfo(text);
  } catch (err) {
    if (err instanceof NixFormatError) throw new NarInfoRejected(err.message);
    throw err;
  }
  let narHash: string;
  try {
    const parsed = parseStorePath(info.storePath, expected.storeDir);
    if (parsed.hash !== expected.storePathHash) {
      throw new NarInfoRejected(`StorePath ${info.storePath} is not the requested ${expected.storePathHash}`);
    }
    for (const ref of info.references) parseStorePathBaseName(ref);
    if (info.deriver !== undefined) parseStorePathBaseName(info.deriver);
    narHash = formatSha256Hex(parseSha256(info.narHash));
  } catch (err) {
    if (err instanceof NarInfoRejected) throw err;
    throw new NarInfoRejected(err instanceof Error ? err.message : String(err));
  }
  for (const value of [info.url, info.compression, info.system, info.ca, ...info.sigs]) {
    if (value !== undefined && unsafe(value)) throw new NarInfoRejected("a field holds a control character");
  }
  const print = fingerprint(info.storePath, info.narHash, info.narSize, info.references);
  const sigs = info.sigs.filter((sig) =>
    expected.trustedKeys.some((key) => verifySignature(key, print, sig)),
  );
  if (sigs.length === 0) {
    const names = expected.trustedKeys.map((k) => parsePublicKey(k).name).join(", ");
    throw new NarInfoRejected(`no signature by a trusted key (${names})`);
  }
  return {
    storePath: info.storePath,
    url: info.url,
    compression: info.compression === "" ? "none" : info.compression,
    narHash,
    narSize: info.narSize,
    references: info.references,
    ...(info.system !== undefined && { system: info.system }),
    ...(info.deriver !== undefined && { deriver: info.deriver }),
    ...(info.ca !== undefined && { ca: info.ca }),
    sigs,
  };
}
