/**
 * garret's per-cache API extensions under `/_api/v1/caches/{cache}`:
 *   GET    /stats          statistics (needs `r`)
 *   GET    /pins           every pin (needs `cr`)
 *   GET    /pins/{name}    one pin
 *   PUT    /pins/{name}    create or replace: {"store_paths": [...], "expires_at"?: ISO time | null}
 *   DELETE /pins/{name}
 */
import { PinRequestSchema } from "@garret/protocol";
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { cacheStats } from "../services/cache-stats.ts";
import { getPin, getPins, putPin, removePin } from "../services/pins.ts";
import { readJsonBody } from "./json-body.ts";
import { cacheParam } from "./params.ts";

export const cacheExtensionRoutes = new Hono<AppEnv>()
  .get("/:cache/stats", async (c) => c.json(await cacheStats(c.get("deps"), c.get("token"), cacheParam(c))))
  .get("/:cache/pins", async (c) => {
    const pins = await getPins(c.get("deps"), c.get("token"), cacheParam(c));
    return c.json({ pins });
  })
  .get("/:cache/pins/:name", async (c) =>
    c.json(await getPin(c.get("deps"), c.get("token"), cacheParam(c), c.req.param("name"))),
  )
  .put("/:cache/pins/:name", async (c) => {
    const name = cacheParam(c);
    const body = await readJsonBody(c, PinRequestSchema);
    return c.json(await putPin(c.get("deps"), c.get("token"), name, c.req.param("name"), body));
  })
  .delete("/:cache/pins/:name", async (c) => {
    await removePin(c.get("deps"), c.get("token"), cacheParam(c), c.req.param("name"));
    return c.body(null, 200);
  });
