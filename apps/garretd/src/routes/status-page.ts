/**
 * `GET /`: a read-only status page (garret extension; atticd serves a fixed placeholder here).
 * Anonymous callers see public caches; a token in `Authorization` (sent by the page's own script
 * after a sign-in, see status-page-html.ts) adds the caches it may discover.
 */
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { statusOverview } from "../services/status-overview.ts";
import { renderStatusPage, STATUS_PAGE_CSP } from "./status-page-html.ts";

export const statusPageRoutes = new Hono<AppEnv>().get("/", async (c) => {
  const overview = await statusOverview(c.get("deps"), {
    token: c.get("token"),
    request: c.get("request"),
    expiredTokenAt: c.get("expiredTokenAt"),
  });
  return c.html(renderStatusPage(overview), 200, {
    "cache-control": "no-store",
    "content-security-policy": STATUS_PAGE_CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
  });
});
