/**
 * `PUT /_api/v1/upload-path` (attic `api/v1/upload_path.rs`). The NAR info travels in the
 * `X-Attic-Nar-Info` header, or as a JSON preamble of `X-Attic-Nar-Info-Preamble-Size` bytes at the
 * start of the body; the rest of the body is the raw NAR. Real sample (attic's fixture):
 *
 *   {"cache":"test","store_path_hash":"nm1w9sdm6j6icmhd2q3260hl1w9zj6li",
 *    "store_path":"/nix/store/nm1w9sdm6j6icmhd2q3260hl1w9zj6li-attic-test-no-deps","references":[],
 *    "system":null,"deriver":null,"sigs":[],"ca":null,
 *    "nar_hash":"sha256:baeabdb75c223d171800c17b05c5e7e8e9980723a90eb6ffcc632a305afc5a42","nar_size":144}
 *
 * Response: {"kind":"Uploaded","file_size":123,"frac_deduplicated":0.25} or
 * {"kind":"Deduplicated","frac_deduplicated":null}.
 */
import { z } from "zod";
import { isValidCacheName } from "../../cache-name.ts";
import { plainText } from "../../text.ts";
import { STORE_PATH_HASH_PATTERN } from "./store-path-hash.ts";

export const NAR_INFO_HEADER = "x-attic-nar-info";
export const NAR_INFO_PREAMBLE_SIZE_HEADER = "x-attic-nar-info-preamble-size";
/** The real client switches to the preamble at this JSON size. */
export const NAR_INFO_HEADER_LIMIT = 4096;

// Every text field may end up in a narinfo line: no control characters (text.ts).
const boundedString = plainText;

export const UploadPathNarInfoSchema = z.object({
  cache: z.string().refine(isValidCacheName, "invalid cache name"),
  store_path_hash: z.string().regex(STORE_PATH_HASH_PATTERN, "invalid store path hash"),
  store_path: boundedString(4096),
  references: z.array(boundedString(1024)).max(100_000),
  system: boundedString(256).nullish(),
  deriver: boundedString(1024).nullish(),
  sigs: z.array(boundedString(1024)).max(1024).default([]),
  ca: boundedString(1024).nullish(),
  nar_hash: boundedString(256),
  nar_size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
});
export type UploadPathNarInfo = z.infer<typeof UploadPathNarInfoSchema>;

export type UploadPathResultKind = "Uploaded" | "Deduplicated";

export interface UploadPathResult {
  kind: UploadPathResultKind;
  file_size?: number;
  frac_deduplicated: number | null;
}
