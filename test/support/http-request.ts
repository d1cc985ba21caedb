/**
 * `fetch`'s shape over node:http, for tests that talk to a real listener: unlike fetch it lets a
 * test set `Host` (allowed-hosts checks, the host narinfo URLs are built from) and keeps no
 * connection pool of its own between test files.
 */
import { request as httpRequest } from "node:http";
import { Readable } from "node:stream";

export async function httpFetch(url: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const method = init.method ?? "GET";
  // Request normalises every body type fetch accepts (string, Buffer, stream, URLSearchParams...).
  const body =
    init.body === undefined || init.body === null
      ? null
      : new Request("http://body.invalid/", {
          method: "POST",
          body: init.body,
          headers,
          duplex: "half",
        } as RequestInit);
  if (body && !headers.has("content-type")) {
    const type = body.headers.get("content-type");
    if (type) headers.set("content-type", type);
  }
  const outgoing: Record<string, string> = {};
  headers.forEach((value, key) => {
    outgoing[key] = value;
  });
  return new Promise<Response>((resolve, reject) => {
    const req = httpRequest(url, { method, headers: outgoing, signal: init.signal ?? undefined }, (res) => {
      const responseHeaders = new Headers();
      for (const [key, value] of Object.entries(res.headers)) {
        if (Array.isArray(value)) for (const v of value) responseHeaders.append(key, v);
        else if (value !== undefined) responseHeaders.set(key, value);
      }
      const status = res.statusCode ?? 0;
      const noBody = method === "HEAD" || status === 204 || status === 304;
      if (noBody) res.resume();
      resolve(
        new Response(noBody ? null : (Readable.toWeb(res) as ReadableStream), {
          status,
          statusText: res.statusMessage,
          headers: responseHeaders,
        }),
      );
    });
    req.on("error", reject);
    if (!body?.body) {
      req.end();
      return;
    }
    Readable.fromWeb(body.body as import("node:stream/web").ReadableStream)
      .on("error", (err) => req.destroy(err))
      .pipe(req);
  });
}
