/**
 * garretd's HTTP server, one factory for production and tests: the fast paths (narinfo, NAR) ahead of
 * the Hono application (app.ts), as one Node request listener, and `listen` with garretd's
 * connection timeouts. `main.ts` serves it; test/support/app.ts starts the same thing on a
 * loopback port, so what tests exercise is what production runs.
 */
import { createServer, type RequestListener, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { getRequestListener } from "@hono/node-server";
import type { Hono } from "hono";
import { createApp } from "./app.ts";
import { GARRET_DEFAULTS } from "./config/garret-config.ts";
import { formatListen, type ListenAddress } from "./config/listen.ts";
import type { Deps } from "./deps.ts";
import type { AppEnv } from "./env.ts";
import type { Logger } from "./log.ts";
import { fastRunner } from "./routes/fast-path.ts";
import { narFastPath } from "./routes/nar-fast-path.ts";
import { narInfoFastPath } from "./routes/narinfo-fast-path.ts";

export interface GarretServer {
  readonly app: Hono<AppEnv>;
  /** Fast paths first, then Hono. */
  readonly listener: RequestListener;
}

export function createGarretServer(deps: Deps): GarretServer {
  const app = createApp(deps);
  const hono = getRequestListener(app.fetch);
  const run = fastRunner(deps);
  const narInfo = narInfoFastPath(deps, run);
  const nar = narFastPath(deps, run);
  return {
    app,
    listener: nar
      ? (req, res) => {
          if (!narInfo(req, res) && !nar(req, res)) void hono(req, res);
        }
      : (req, res) => {
          if (!narInfo(req, res)) void hono(req, res);
        },
  };
}

/** What one connection may cost before and between requests (`[garret] request-*`, `max-connections`). */
export interface ConnectionBounds {
  headerTimeoutMs: number;
  idleTimeoutMs: number;
  maxConnections: number;
}

const DEFAULT_BOUNDS: ConnectionBounds = {
  headerTimeoutMs: GARRET_DEFAULTS.requestHeaderTimeoutMs,
  idleTimeoutMs: GARRET_DEFAULTS.requestIdleTimeoutMs,
  maxConnections: GARRET_DEFAULTS.maxConnections,
};

/** Listens on `host:port` (port 0: any free port); resolves once listening. */
export function listen(
  listener: RequestListener,
  address: ListenAddress,
  log: Logger,
  message = "listening",
  bounds: ConnectionBounds = DEFAULT_BOUNDS,
): Promise<Server> {
  return new Promise((resolve, reject) => {
    // No overall request timeout (a big upload may take hours), but headers must arrive in time and
    // no connection may sit without a byte in either direction: a stalled body, a client that
    // stopped reading. The expiry check runs often enough for short test bounds.
    const server = createServer(
      {
        headersTimeout: bounds.headerTimeoutMs,
        requestTimeout: 0,
        connectionsCheckingInterval: Math.min(1000, bounds.headerTimeoutMs),
      },
      listener,
    );
    server.keepAliveTimeout = 65_000;
    server.timeout = bounds.idleTimeoutMs;
    server.maxConnections = bounds.maxConnections;
    server.once("error", reject);
    server.listen(address.port, address.host, () => {
      server.off("error", reject);
      log.info(message, { address: formatListen(address), port: (server.address() as AddressInfo).port });
      resolve(server);
    });
  });
}
