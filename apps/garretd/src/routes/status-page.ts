/**
 * `GET /`: a read-only status page (garret extension; atticd serves a fixed placeholder here).
 * Anonymous callers see public caches; a token in `Authorization` adds the caches it may discover.
 */
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { statusOverview } from "../services/status-overview.ts";
import { renderStatusPage } from "./status-page-html.ts";

export const statusPageRoutes = new Hono<AppEnv>().get("/", async (c) => {
  const overview = await statusOverview(c.get("deps"), c.get("token"));
  return c.html(renderStatusPage(overview), 200, {
    "cache-control": "no-store",
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
    "x-content-type-options": "nosniff",
  });
});
