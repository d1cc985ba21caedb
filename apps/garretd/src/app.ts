/**
 * `createApp(deps)`: garretd's HTTP application. It never listens, so tests drive it with
 * `app.request()` and `main.ts` serves it with @hono/node-server. The `/_api/v1` routes take
 * precedence over `/{cache}/...`, as in atticd.
 */
import type { IncomingMessage } from "node:http";
import { Hono } from "hono";
import type { Deps } from "./deps.ts";
import type { AppEnv } from "./env.ts";
import { AtticError, errorResponse } from "./errors.ts";
import { httpMetrics } from "./metrics/http-metrics.ts";
import { requestContext } from "./middleware/request-context.ts";
import { reportRequestError } from "./report-error.ts";
import { binaryCacheRoutes } from "./routes/binary-cache.ts";
import { cacheConfigRoutes } from "./routes/cache-config.ts";
import { cacheExtensionRoutes } from "./routes/cache-extensions.ts";
import { chunkUploadRoutes } from "./routes/chunk-upload.ts";
import { getMissingPathsRoutes } from "./routes/get-missing-paths.ts";
import { nixUploadRoutes } from "./routes/nix-upload.ts";
import { oidcRoutes } from "./routes/oidc-exchange.ts";
import { healthRoutes, metricsRoutes } from "./routes/ops.ts";
import { statusPageRoutes } from "./routes/status-page.ts";
import { tokenRoutes } from "./routes/tokens.ts";
import { uploadPathRoutes } from "./routes/upload-path.ts";

export function createApp(deps: Deps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.onError((err, c) => {
    const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
    const { response } = reportRequestError(deps, err, {
      requestId: c.get("requestId"),
      method: c.req.method,
      path: c.req.path,
      expiredTokenAt: c.get("expiredTokenAt"),
      // The client hung up (or was cut for idling) before its request was complete: whatever
      // failed is its doing, not a server error.
      clientGone:
        incoming !== undefined && !incoming.complete && (incoming.destroyed || incoming.socket.destroyed),
    });
    const requestId = c.get("requestId");
    if (requestId) response.headers.set("x-request-id", requestId);
    // A request refused before its body was read (401 before the upload, 413): close the connection
    // rather than keep it alive by reading and discarding whatever the client still sends.
    if (incoming && !incoming.complete) response.headers.set("connection", "close");
    return response;
  });
  app.notFound(() => errorResponse(new AtticError("NotFound")).response);
  app.use("*", httpMetrics(deps.metrics));
  app.route("/", healthRoutes(deps));
  if (deps.settings.metricsOnMainListener !== false) app.route("/", metricsRoutes(deps));
  app.use("*", requestContext(deps));
  app.route("/", statusPageRoutes);
  app.route("/_api/v1/cache-config", cacheConfigRoutes);
  app.route("/_api/v1/caches", cacheExtensionRoutes);
  app.route("/_api/v1/garret/chunk-upload", chunkUploadRoutes);
  app.route("/_api/v1/get-missing-paths", getMissingPathsRoutes);
  app.route("/_api/v1/upload-path", uploadPathRoutes);
  app.route("/_api/v1/tokens", tokenRoutes);
  app.route("/_api/v1/oidc", oidcRoutes);
  app.all("/_api/*", () => {
    throw new AtticError("NotFound");
  });
  app.route("/", nixUploadRoutes);
  app.route("/", binaryCacheRoutes);
  return app;
}
