/**
 * A reverse proxy for tests that stands between a client and garretd like a CDN or ingress with a
 * request body limit: bodies over `limit` bytes are refused with 413 (by Content-Length before
 * anything is forwarded, or as soon as a streamed body passes the limit). It counts the bytes that
 * cross it, per request, so tests can assert what a push put on the wire.
 */
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface ProxiedRequest {
  method: string;
  path: string;
  status: number;
  /** Request body bytes forwarded upstream. */
  requestBytes: number;
  /** Response body bytes returned to the client. */
  responseBytes: number;
  /** From the request's arrival to the end of the response. */
  ms: number;
}

export interface BodyLimitProxy {
  url: string;
  /** Finished requests, in completion order. */
  readonly requests: ProxiedRequest[];
  /** Request body bytes forwarded so far, including requests still in flight. */
  readonly liveRequestBytes: number;
  reset(): void;
  close(): Promise<void>;
}

export async function startBodyLimitProxy(upstream: string, limit: number): Promise<BodyLimitProxy> {
  const target = new URL(upstream);
  const requests: ProxiedRequest[] = [];
  let live = 0;

  const refuse = (req: IncomingMessage, res: ServerResponse) => {
    requests.push({
      method: req.method ?? "",
      path: req.url ?? "",
      status: 413,
      requestBytes: 0,
      responseBytes: 0,
      ms: 0,
    });
    res.writeHead(413, { "content-type": "text/html", connection: "close" });
    res.end("<html><body>413 Request Entity Too Large</body></html>");
    req.resume();
  };

  const server = createServer((req, res) => {
    const arrived = performance.now();
    const length = Number(req.headers["content-length"] ?? "0");
    if (length > limit) return refuse(req, res);
    const record: ProxiedRequest = {
      method: req.method ?? "",
      path: req.url ?? "",
      status: 0,
      requestBytes: 0,
      responseBytes: 0,
      ms: 0,
    };
    const up = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        // The Host header passes unchanged, as reverse proxies are set up for garretd: the
        // server derives the API endpoint it advertises from it, and clients must keep coming here.
        headers: req.headers,
      },
      (upRes) => {
        record.status = upRes.statusCode ?? 0;
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.on("data", (d: Buffer) => {
          record.responseBytes += d.length;
        });
        upRes.pipe(res);
        upRes.on("end", () => {
          record.ms = performance.now() - arrived;
          requests.push(record);
        });
      },
    );
    up.on("error", () => res.destroy());
    res.on("close", () => {
      if (!res.writableFinished) up.destroy();
    });
    req.on("data", (d: Buffer) => {
      record.requestBytes += d.length;
      live += d.length;
      if (record.requestBytes > limit) {
        up.destroy();
        if (!res.headersSent) refuse(req, res);
        return;
      }
      if (!up.write(d)) {
        req.pause();
        up.once("drain", () => req.resume());
      }
    });
    req.on("end", () => up.end());
    req.on("error", () => up.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    get liveRequestBytes() {
      return live;
    },
    reset() {
      requests.length = 0;
      live = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
