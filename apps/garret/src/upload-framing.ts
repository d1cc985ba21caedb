/**
 * How `garret push` frames one upload (attic `client/src/push.rs`, server `api/v1/upload_path.rs`).
 * The NAR info JSON, keys in attic's order:
 *
 *   {"cache":"test","store_path_hash":"nm1w9sdm6j6icmhd2q3260hl1w9zj6li",
 *    "store_path":"/nix/store/nm1w9sdm6j6icmhd2q3260hl1w9zj6li-attic-test-no-deps","references":[],
 *    "system":null,"deriver":null,"sigs":[],"ca":null,
 *    "nar_hash":"sha256:baeabdb75c223d171800c17b05c5e7e8e9980723a90eb6ffcc632a305afc5a42","nar_size":144}
 *
 * travels in `X-Attic-Nar-Info` when it is shorter than 4096 bytes (and plain ASCII, since header
 * values must be), otherwise as a body preamble announced by `X-Attic-Nar-Info-Preamble-Size`.
 */
import {
  NAR_INFO_HEADER,
  NAR_INFO_HEADER_LIMIT,
  NAR_INFO_PREAMBLE_SIZE_HEADER,
  type UploadPathNarInfo,
} from "@garret/protocol";

export interface UploadFraming {
  headers: Record<string, string>;
  /** Bytes to send before the NAR, empty when the header carries the info. */
  preamble: Uint8Array;
}

export function narInfoJson(info: UploadPathNarInfo): string {
  return JSON.stringify({
    cache: info.cache,
    store_path_hash: info.store_path_hash,
    store_path: info.store_path,
    references: info.references,
    system: info.system ?? null,
    deriver: info.deriver ?? null,
    sigs: info.sigs,
    ca: info.ca ?? null,
    nar_hash: info.nar_hash,
    nar_size: info.nar_size,
  });
}

export function frameUpload(info: UploadPathNarInfo, forcePreamble: boolean): UploadFraming {
  const json = narInfoJson(info);
  const bytes = Buffer.from(json, "utf8");
  const headerSafe = /^[\x20-\x7e]*$/.test(json);
  if (!forcePreamble && headerSafe && bytes.length < NAR_INFO_HEADER_LIMIT) {
    return { headers: { [NAR_INFO_HEADER]: json }, preamble: new Uint8Array(0) };
  }
  return { headers: { [NAR_INFO_PREAMBLE_SIZE_HEADER]: String(bytes.length) }, preamble: bytes };
}
