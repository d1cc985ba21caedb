/**
 * Operations endpoints (garret extensions, outside any cache's namespace: cache routes always have a
 * second path segment, so `/metrics`, `/healthz` and `/readyz` stay free even for caches of those
 * names). They are mounted ahead of the request-context middleware, so probes pass whatever the
 * `allowed-hosts` setting says and need no token:
 *
 *   GET /healthz   200 `{"status":"ok"}` while the process serves requests (liveness)
 *   GET /readyz    200 when the database and storage answer, else 503 naming what is down
 *   GET /metrics   Prometheus text format; on the main listener unless `[garret] metrics-listen`
 *                  moves it to its own address
 */
import type { Db } from "@garret/db";
import type { StorageBackend } from "@garret/storage";
import { Hono } from "hono";
import { AtticError, errorResponse } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { GarretMetrics } from "../metrics/garret-metrics.ts";
import { PROMETHEUS_CONTENT_TYPE } from "../metrics/registry.ts";
import { checkReadiness } from "../ops/readiness.ts";

export interface OpsDeps {
  settings: { readinessTimeoutMs?: number };
  db: Db;
  storage: StorageBackend;
  log: Logger;
  metrics: GarretMetrics;
}

const NO_STORE = { "cache-control": "no-store" };

export function healthRoutes(deps: OpsDeps): Hono {
  return new Hono()
    .get("/healthz", (c) => c.json({ status: "ok" }, 200, NO_STORE))
    .get("/readyz", async (c) => {
      const r = await checkReadiness(deps, deps.settings.readinessTimeoutMs);
      return c.json(
        { status: r.ready ? "ok" : "unavailable", database: r.database, storage: r.storage },
        r.ready ? 200 : 503,
        NO_STORE,
      );
    });
}

export function metricsRoutes(deps: OpsDeps): Hono {
  return new Hono().get("/metrics", (c) =>
    c.body(deps.metrics.registry.render(), 200, { "content-type": PROMETHEUS_CONTENT_TYPE, ...NO_STORE }),
  );
}

/** The app of the separate `[garret] metrics-listen` address: metrics and probes only. */
export function createOpsApp(deps: OpsDeps): Hono {
  const app = new Hono();
  app.route("/", healthRoutes(deps));
  app.route("/", metricsRoutes(deps));
  app.notFound(() => errorResponse(new AtticError("NotFound")).response);
  return app;
}
