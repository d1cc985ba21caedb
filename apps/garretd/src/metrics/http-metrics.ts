/**
 * The first middleware: counts every request by route pattern (`/:cache/:file`, never the cache
 * name), method and status, its duration, its bytes in and out, and NAR uploads in progress.
 *
 * Bytes in are the request's Content-Length, or for chunked bodies what the HTTP parser hands the
 * request stream. Under @hono/node-server, duration and bytes out are taken when the response has
 * finished, so a streamed NAR download counts its whole transfer (response headers included);
 * under `app.request()` (tests) they are taken when the handler returns, from Content-Length.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import type { AppEnv } from "../env.ts";
import type { GarretMetrics } from "./garret-metrics.ts";

const NIX_NAR_PUT = /^\/[^/]+\/nar\/[^/]+$/;

/** A NAR body arriving: attic's upload-path or a `nix copy --to` NAR PUT. */
export function isNarUpload(method: string, path: string): boolean {
  return method === "PUT" && (path === "/_api/v1/upload-path" || NIX_NAR_PUT.test(path));
}

export function httpMetrics(metrics: GarretMetrics): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    const method = c.req.method;
    const upload = isNarUpload(method, c.req.path);
    const env = c.env as { incoming?: IncomingMessage; outgoing?: ServerResponse } | undefined;
    const socket = env?.incoming?.socket;
    const written0 = socket?.bytesWritten ?? 0;
    const bodyBytes = countBodyBytes(
      c.req.header("content-length"),
      c.req.header("transfer-encoding") !== undefined,
      env?.incoming,
    );
    metrics.httpInFlight.inc();
    if (upload) metrics.uploadsInProgress.inc();
    let done = false;
    const finish = (bytesIn: number, bytesOut: number) => {
      if (done) return;
      done = true;
      if (upload) metrics.uploadsInProgress.dec();
      const path = routePath(c);
      const route = path === "*" || path === "/*" ? "unmatched" : path;
      recordRequest(metrics, { route, method, status: c.res.status, started, bytesIn, bytesOut });
      if (upload) metrics.uploadReceivedBytes.inc(bytesIn);
    };
    try {
      await next();
    } finally {
      const outgoing = env?.outgoing;
      if (socket && outgoing && !outgoing.writableFinished) {
        const onEnd = () => finish(bodyBytes(), socket.bytesWritten - written0);
        outgoing.once("finish", onEnd);
        outgoing.once("close", onEnd);
      } else {
        finish(bodyBytes(), Number(c.res.headers.get("content-length") ?? 0) || 0);
      }
    }
  };
}

/** Counts one finished request (and ends its in-flight count); shared with the narinfo fast path. */
export function recordRequest(
  metrics: GarretMetrics,
  r: { route: string; method: string; status: number; started: number; bytesIn: number; bytesOut: number },
): void {
  metrics.httpInFlight.dec();
  metrics.httpRequests.inc({ route: r.route, method: r.method, status: String(r.status) });
  metrics.httpDuration.observe({ route: r.route, method: r.method }, (performance.now() - r.started) / 1000);
  metrics.httpBytesIn.inc({ route: r.route }, r.bytesIn);
  metrics.httpBytesOut.inc({ route: r.route }, r.bytesOut);
}

/**
 * Request body bytes. Without Content-Length (chunked uploads) the node stream's `push`, through
 * which the HTTP parser delivers the body, is wrapped for this one request: listening for "data"
 * would switch the stream to flowing mode and defeat the upload's backpressure.
 */
function countBodyBytes(
  contentLength: string | undefined,
  chunked: boolean,
  incoming: IncomingMessage | undefined,
): () => number {
  const declared = Number(contentLength);
  if (contentLength !== undefined && Number.isSafeInteger(declared) && declared >= 0) return () => declared;
  // HTTP/1.1: without Content-Length or Transfer-Encoding a request has no body.
  if (!incoming || !chunked) return () => 0;
  let bytes = incoming.readableLength;
  const push = incoming.push;
  incoming.push = function (this: IncomingMessage, chunk: unknown, encoding?: BufferEncoding) {
    if (chunk instanceof Uint8Array) bytes += chunk.length;
    return push.call(this, chunk, encoding);
  };
  return () => bytes;
}
