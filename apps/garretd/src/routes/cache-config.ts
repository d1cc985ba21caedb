/** `/_api/v1/cache-config/{cache}` (GET/POST/PATCH/DELETE) and `/{cache}/attic-cache-info`. */
import { CacheConfigPatchSchema, CreateCacheRequestSchema } from "@garret/protocol";
import { type Context, Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { configureCache, createCache, destroyCache, getCacheConfig } from "../services/caches.ts";
import { readJsonBody } from "./json-body.ts";
import { cacheParam } from "./params.ts";

export async function cacheConfigGet(c: Context<AppEnv>) {
  const config = await getCacheConfig(c.get("deps"), c.get("token"), c.get("request"), cacheParam(c));
  return c.json(config);
}

export const cacheConfigRoutes = new Hono<AppEnv>()
  .get("/:cache", cacheConfigGet)
  .post("/:cache", async (c) => {
    const name = cacheParam(c);
    const body = await readJsonBody(c, CreateCacheRequestSchema);
    await createCache(c.get("deps"), c.get("token"), name, body);
    return c.body(null, 200);
  })
  .patch("/:cache", async (c) => {
    const name = cacheParam(c);
    const body = await readJsonBody(c, CacheConfigPatchSchema);
    await configureCache(c.get("deps"), c.get("token"), name, body);
    return c.body(null, 200);
  })
  .delete("/:cache", async (c) => {
    await destroyCache(c.get("deps"), c.get("token"), cacheParam(c));
    return c.body(null, 200);
  });
