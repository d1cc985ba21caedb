/**
 * `GET /{cache}/{hash}.narinfo` answered straight from Node's request, ahead of Hono. It is the
 * request Nix makes most (once per path of every closure it considers), and with the narinfo memo
 * the answer itself costs a few microseconds: Hono's router, context and Response objects and the
 * metrics middleware's listeners were most of what was left (profile in docs/performance.md).
 *
 * Same behaviour, not a copy: caller identification (`identifyCaller`), the lookup (`getNarInfo`),
 * error classification and logging (`reportRequestError`) and the metrics (`recordRequest`) are the
 * functions the Hono pipeline runs. Only well-formed requests take this path (a valid cache name
 * and store path hash, nothing else in the URL, a Host header); anything else goes to Hono, which
 * produces the errors. narinfo-fast-path.test.ts sends the same requests both ways and compares.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { isValidStorePathHash } from "@garret/nix";
import { isValidCacheName } from "@garret/protocol";
import type { Deps } from "../deps.ts";
import { recordRequest } from "../metrics/http-metrics.ts";
import { identifyCaller, requestIdOf } from "../middleware/request-context.ts";
import { reportRequestError } from "../report-error.ts";
import { requestLog } from "../request-log.ts";
import { getNarInfo } from "../services/narinfo.ts";

const NARINFO_URL = /^\/([^/?#%]+)\/([^/?#%.]+)\.narinfo$/;
/** The route pattern Hono reports for this request, so both paths count into the same series. */
const ROUTE = "/:cache/:file";

export type FastPath = (req: IncomingMessage, res: ServerResponse) => boolean;

/** Returns a handler that serves the request and returns true, or returns false and leaves it to Hono. */
export function narInfoFastPath(deps: Deps): FastPath {
  const allowed = new Set(deps.settings.allowedHosts);
  const logRequest = requestLog(deps.log);
  return (req, res) => {
    const h = req.headers;
    if (req.method !== "GET" || h.host === undefined) return false;
    // A GET with a body is odd enough to leave to the general pipeline (and its byte counting).
    if (h["content-length"] !== undefined || h["transfer-encoding"] !== undefined) return false;
    const match = NARINFO_URL.exec(req.url ?? "");
    const cacheName = match?.[1];
    const hash = match?.[2];
    if (!cacheName || !hash || !isValidCacheName(cacheName) || !isValidStorePathHash(hash)) return false;
    serve(deps, allowed, logRequest, req, res, cacheName, hash).catch((err: unknown) => {
      // serve answers every error itself; this only guards against a failure while doing so.
      deps.log.error("narinfo fast path failed", { err });
      res.destroy();
    });
    return true;
  };
}

async function serve(
  deps: Deps,
  allowed: ReadonlySet<string>,
  logRequest: ReturnType<typeof requestLog>,
  req: IncomingMessage,
  res: ServerResponse,
  cacheName: string,
  hash: string,
): Promise<void> {
  const started = performance.now();
  deps.metrics.httpInFlight.inc();
  const socket = req.socket;
  const written0 = socket.bytesWritten;
  const requestId = requestIdOf(header(req, "x-request-id"));
  let status: number;
  let sub: string | undefined;
  let expiredTokenAt: number | undefined;
  try {
    const caller = await identifyCaller(deps, allowed, {
      host: req.headers.host,
      authorization: header(req, "authorization"),
      forwardedProto: header(req, "x-forwarded-proto"),
    });
    const { token } = caller;
    expiredTokenAt = caller.expiredTokenAt;
    sub = token?.sub;
    const { text, isPublic } = await getNarInfo(deps, token, cacheName, hash);
    const headers: Record<string, string | number> = {
      "content-type": "text/x-nix-narinfo",
      "content-length": Buffer.byteLength(text),
      "x-request-id": requestId,
    };
    if (isPublic) headers["x-attic-cache-visibility"] = "public";
    status = 200;
    res.writeHead(status, headers);
    res.end(text);
  } catch (err) {
    const { classified } = reportRequestError(deps, err, {
      requestId,
      method: "GET",
      path: req.url ?? "",
      expiredTokenAt,
    });
    status = classified.status;
    const body = JSON.stringify(classified.body);
    if (res.headersSent) {
      res.destroy();
    } else {
      res.writeHead(status, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(body),
        "x-request-id": requestId,
      });
      res.end(body);
    }
  }
  // Everything is queued on the socket by now; bytesWritten counts queued bytes too.
  recordRequest(deps.metrics, {
    route: ROUTE,
    method: "GET",
    status,
    started,
    bytesIn: 0,
    bytesOut: socket.bytesWritten - written0,
  });
  logRequest?.({ requestId, method: "GET", path: req.url, status, started, sub });
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
