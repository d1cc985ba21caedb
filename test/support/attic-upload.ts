/**
 * Uploads a store path to `/_api/v1/upload-path` exactly as the `attic` client does: path info from
 * the local Nix store, the NAR streamed from `nix-store --dump` with no length (chunked transfer
 * encoding), NAR info in `X-Attic-Nar-Info` or, when asked or large, as a body preamble.
 */
import { Readable } from "node:stream";
import type { UploadPathResult } from "@garret/protocol";
import { dumpNar, type PathInfo } from "./nix.ts";
import { atticUploadRequest, narInfoForPath } from "./upload-info.ts";

export async function atticUpload(opts: {
  url: string;
  token: string;
  cache: string;
  info: PathInfo;
  preamble?: boolean;
}): Promise<{ status: number; body: UploadPathResult | { error: string; message: string } }> {
  const { info } = opts;
  const narInfo = narInfoForPath(opts.cache, info);
  const { headers, body } = atticUploadRequest(narInfo, dumpNar(info.path), {
    token: opts.token,
    userAgent: "garret-tests (attic-compatible upload)",
    preamble: opts.preamble,
  });
  const res = await fetch(`${opts.url}/_api/v1/upload-path`, {
    method: "PUT",
    headers,
    body: Readable.toWeb(body) as ReadableStream,
    duplex: "half",
  } as RequestInit);
  return { status: res.status, body: (await res.json()) as UploadPathResult };
}
