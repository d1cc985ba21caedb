/**
 * Uploads a store path to `/_api/v1/upload-path` exactly as the `attic` client does: path info from
 * the local Nix store, the NAR streamed from `nix-store --dump` with no length (chunked transfer
 * encoding), NAR info in `X-Attic-Nar-Info` or, when asked or large, as a body preamble.
 */
import { Readable } from "node:stream";
import { formatSha256Hex, parseSha256 } from "@garret/nix";
import type { UploadPathResult } from "@garret/protocol";
import { dumpNar, type PathInfo } from "./nix.ts";

function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

export async function atticUpload(opts: {
  url: string;
  token: string;
  cache: string;
  info: PathInfo;
  preamble?: boolean;
}): Promise<{ status: number; body: UploadPathResult | { error: string; message: string } }> {
  const { info } = opts;
  const base = baseName(info.path);
  const narInfo = {
    cache: opts.cache,
    store_path_hash: base.slice(0, 32),
    store_path: info.path,
    references: info.references.map(baseName),
    system: null,
    deriver: info.deriver ? baseName(info.deriver) : null,
    sigs: info.signatures,
    ca: info.ca ?? null,
    nar_hash: formatSha256Hex(parseSha256(info.narHash)),
    nar_size: info.narSize,
  };
  const json = Buffer.from(JSON.stringify(narInfo));
  const headers: Record<string, string> = {
    authorization: `bearer ${opts.token}`,
    "content-type": "application/octet-stream",
    "user-agent": "garret-tests (attic-compatible upload)",
  };
  const nar = dumpNar(info.path);
  let body: Readable = nar;
  if (opts.preamble || json.length >= 4096) {
    headers["x-attic-nar-info-preamble-size"] = String(json.length);
    body = Readable.from(
      (async function* () {
        yield json;
        yield* nar;
      })(),
    );
  } else {
    headers["x-attic-nar-info"] = json.toString();
  }
  const res = await fetch(`${opts.url}/_api/v1/upload-path`, {
    method: "PUT",
    headers,
    body: Readable.toWeb(body) as ReadableStream,
    duplex: "half",
  } as RequestInit);
  return { status: res.status, body: (await res.json()) as UploadPathResult };
}
