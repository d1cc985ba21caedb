/**
 * `POST /_api/v1/get-missing-paths` (attic `api/v1/get_missing_paths.rs`):
 *
 *   request  {"cache":"hello","store_path_hashes":["nm1w9sdm6j6icmhd2q3260hl1w9zj6li"]}
 *   response {"missing_paths":["nm1w9sdm6j6icmhd2q3260hl1w9zj6li"]}
 */
import { z } from "zod";
import { isValidCacheName } from "../../cache-name.ts";
import { STORE_PATH_HASH_PATTERN } from "./store-path-hash.ts";

export const GetMissingPathsRequestSchema = z.object({
  cache: z.string().refine(isValidCacheName, "invalid cache name"),
  store_path_hashes: z
    .array(z.string().regex(STORE_PATH_HASH_PATTERN, "invalid store path hash"))
    .max(100_000),
});
export type GetMissingPathsRequest = z.infer<typeof GetMissingPathsRequestSchema>;

export interface GetMissingPathsResponse {
  missing_paths: string[];
}
