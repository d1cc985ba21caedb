/**
 * garret extension: pins, named GC roots of a cache (`/_api/v1/caches/{cache}/pins[/{name}]`).
 * While a pin has not expired, its store paths and their closure in the cache are immune to
 * retention. atticd has no counterpart; the model is cachix's pins and kiss-cache's GC roots.
 *
 *   PUT  /_api/v1/caches/hello/pins/release
 *        {"store_paths":["/nix/store/0c2bl6ypqmqq2a4w6ga6xnd1b8sxy2yd-hello-2.12.1"],
 *         "expires_at":"2027-01-01T00:00:00Z"}
 *   GET  → {"name":"release","store_paths":[…],"expires_at":"2027-01-01T00:00:00.000Z",
 *           "created_at":"…","updated_at":"…","created_by":"ci"}
 *   GET  /_api/v1/caches/hello/pins → {"pins":[…]}
 */
import { z } from "zod";
import { plainText } from "../../text.ts";

/** Pin names: what fits in a URL path segment without escaping. */
export const PIN_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export const PinRequestSchema = z.object({
  store_paths: z.array(plainText(4096).min(1)).min(1).max(10_000),
  /** ISO 8601 with an offset; null or absent = never expires. */
  expires_at: z.iso.datetime({ offset: true }).nullable().optional(),
});
export type PinRequest = z.infer<typeof PinRequestSchema>;

export interface Pin {
  name: string;
  store_paths: string[];
  expires_at: string | null;
  created_at: string;
  updated_at: string;
  created_by: string | null;
}

export interface PinList {
  pins: Pin[];
}
