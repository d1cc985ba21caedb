/**
 * garretd's HTTP server, one factory for production and tests: the fast paths (narinfo) ahead of
 * the Hono application (app.ts), as one Node request listener, and `listen` with garretd's
 * connection timeouts. `main.ts` serves it; test/support/app.ts starts the same thing on a
 * loopback port, so what tests exercise is what production runs.
 */
import { createServer, type RequestListener, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { getRequestListener } from "@hono/node-server";
import type { Hono } from "hono";
import { createApp } from "./app.ts";
import { formatListen, type ListenAddress } from "./config/listen.ts";
import type { Deps } from "./deps.ts";
import type { AppEnv } from "./env.ts";
import type { Logger } from "./log.ts";
import { narInfoFastPath } from "./routes/narinfo-fast-path.ts";

export interface GarretServer {
  readonly app: Hono<AppEnv>;
  /** Fast paths first, then Hono. */
  readonly listener: RequestListener;
}

export function createGarretServer(deps: Deps): GarretServer {
  const app = createApp(deps);
  const hono = getRequestListener(app.fetch);
  const narInfo = narInfoFastPath(deps);
  return {
    app,
    listener: (req, res) => {
      if (!narInfo(req, res)) void hono(req, res);
    },
  };
}

/** Listens on `host:port` (port 0: any free port); resolves once listening. */
export function listen(
  listener: RequestListener,
  address: ListenAddress,
  log: Logger,
  message = "listening",
): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer(listener);
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 70_000;
    server.requestTimeout = 0;
    server.once("error", reject);
    server.listen(address.port, address.host, () => {
      server.off("error", reject);
      log.info(message, { address: formatListen(address), port: (server.address() as AddressInfo).port });
      resolve(server);
    });
  });
}
