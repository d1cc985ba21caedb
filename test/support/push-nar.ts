/**
 * Pushes NAR bytes (no Nix needed) through attic's `PUT /_api/v1/upload-path`, the way the attic
 * client frames them (NAR info in `X-Attic-Nar-Info`), with any request function: a TestApp's
 * `request` or `fetch` against a real garretd.
 */
import { narOfFile } from "./nar.ts";
import { narInfoForNar } from "./upload-info.ts";

export type RequestFn = (path: string, init: RequestInit) => Promise<Response>;

/** `fetch` against `baseUrl` with a bearer token, as a RequestFn. */
export function httpRequester(baseUrl: string, token: string | null): RequestFn {
  return (path, init) => {
    const headers = new Headers(init.headers);
    if (token) headers.set("authorization", `Bearer ${token}`);
    return fetch(`${baseUrl}${path}`, { ...init, headers });
  };
}

export interface PushedPath {
  hash: string;
  storePath: string;
  nar: Buffer;
  status: number;
  body: Record<string, unknown>;
}

export async function pushNar(
  request: RequestFn,
  cache: string,
  opts: {
    nar?: Buffer;
    contents?: string;
    name?: string;
    hash?: string;
    /** Send the NAR as a stream (chunked transfer encoding, no Content-Length), as the attic client does. */
    stream?: boolean;
  } = {},
): Promise<PushedPath> {
  const nar = opts.nar ?? narOfFile(opts.contents ?? `contents of ${opts.name ?? "a path"}`);
  const info = narInfoForNar(cache, nar, { hash: opts.hash, name: opts.name ?? "pushed-path" });
  const { store_path_hash: hash, store_path: storePath } = info;
  const body = opts.stream
    ? new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < nar.length; i += 8192) controller.enqueue(nar.subarray(i, i + 8192));
          controller.close();
        },
      })
    : nar;
  const res = await request("/_api/v1/upload-path", {
    method: "PUT",
    headers: { "x-attic-nar-info": JSON.stringify(info), "content-type": "application/octet-stream" },
    body,
    ...(opts.stream && { duplex: "half" }),
  } as RequestInit);
  return { hash, storePath, nar, status: res.status, body: (await res.json()) as Record<string, unknown> };
}
