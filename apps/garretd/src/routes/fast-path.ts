/**
 * What every fast path of server.ts runs around its handler, so that a request answered from Node's
 * request object behaves as the Hono pipeline would: caller identification (`identifyCaller`),
 * error classification and logging (`reportRequestError`), the metrics (`recordRequest`) and the
 * access log line.
 *
 * The fast paths (narinfo-fast-path.ts, nar-fast-path.ts) exist because Nix's reads are many and
 * small: for a narinfo from the memo or a NAR of a few KiB, Hono's router, context, Request and
 * Response objects and the middleware's listeners were most of the server's cost per request
 * (profiles in docs/performance.md). Only well-formed requests take them (a valid cache name and
 * store path hash, nothing else in the URL, a Host header, no body); anything else goes to Hono,
 * which produces the errors. Their tests send the same requests both ways and compare.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AtticToken } from "@garret/token";
import type { Deps } from "../deps.ts";
import { recordRequest } from "../metrics/http-metrics.ts";
import { identifyCaller, requestIdOf } from "../middleware/request-context.ts";
import { reportRequestError } from "../report-error.ts";
import { requestLog } from "../request-log.ts";

/** Serves the request and returns true, or returns false and leaves it to Hono. */
export type FastPath = (req: IncomingMessage, res: ServerResponse) => boolean;

export interface FastRequest {
  req: IncomingMessage;
  res: ServerResponse;
  token: AtticToken | null;
  /** Headers every answer carries (x-request-id), for the handler's writeHead. */
  requestId: string;
}

/**
 * Answers one request: `handle` writes a successful response (headers and body, or queues the
 * body) and resolves; if it throws before sending headers, the error is answered as Hono's
 * `onError` would; after headers, the connection is cut.
 */
export type FastRunner = (
  req: IncomingMessage,
  res: ServerResponse,
  route: string,
  handle: (r: FastRequest) => Promise<void>,
) => void;

export function fastRunner(deps: Deps): FastRunner {
  const allowed = new Set(deps.settings.allowedHosts);
  const logRequest = requestLog(deps.log);
  return (req, res, route, handle) => {
    serve(deps, allowed, logRequest, req, res, route, handle).catch((err: unknown) => {
      // serve answers every error itself; this only guards against a failure while doing so.
      deps.log.error("fast path failed", { err });
      res.destroy();
    });
  };
}

/** A GET without a body and with a Host header: the only requests a fast path takes. */
export function isPlainGet(req: IncomingMessage): boolean {
  const h = req.headers;
  if (req.method !== "GET" || h.host === undefined) return false;
  // A GET with a body is odd enough to leave to the general pipeline (and its byte counting).
  return h["content-length"] === undefined && h["transfer-encoding"] === undefined;
}

export function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

async function serve(
  deps: Deps,
  allowed: ReadonlySet<string>,
  logRequest: ReturnType<typeof requestLog>,
  req: IncomingMessage,
  res: ServerResponse,
  route: string,
  handle: (r: FastRequest) => Promise<void>,
): Promise<void> {
  const started = performance.now();
  deps.metrics.httpInFlight.inc();
  const socket = req.socket;
  const written0 = socket.bytesWritten;
  const requestId = requestIdOf(header(req, "x-request-id"));
  let sub: string | undefined;
  let expiredTokenAt: number | undefined;
  let status: number;
  try {
    const caller = await identifyCaller(deps, allowed, {
      host: req.headers.host,
      authorization: header(req, "authorization"),
      forwardedProto: header(req, "x-forwarded-proto"),
    });
    const { token } = caller;
    expiredTokenAt = caller.expiredTokenAt;
    sub = token?.sub;
    await handle({ req, res, token, requestId });
    status = res.statusCode;
  } catch (err) {
    const { classified } = reportRequestError(deps, err, {
      requestId,
      method: "GET",
      path: req.url ?? "",
      expiredTokenAt,
    });
    status = classified.status;
    if (res.headersSent) {
      res.destroy();
    } else {
      const body = JSON.stringify(classified.body);
      res.writeHead(status, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(body),
        "x-request-id": requestId,
      });
      res.end(body);
    }
  }
  // The handler has queued the whole response (a streamed NAR too: sendNar resolves once the last
  // piece is queued), and bytesWritten counts queued bytes, so the request is counted now.
  recordRequest(deps.metrics, {
    route,
    method: "GET",
    status,
    started,
    bytesIn: 0,
    bytesOut: socket.bytesWritten - written0,
  });
  logRequest?.({ requestId, method: "GET", path: req.url, status, started, sub });
}
