/** `POST /_api/v1/get-missing-paths`: which of these store path hashes the cache lacks. */
import { getMissingPaths } from "@garret/db";
import { GetMissingPathsRequestSchema, type GetMissingPathsResponse } from "@garret/protocol";
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { authorizeCache } from "../services/authorize-cache.ts";
import { readJsonBody } from "./json-body.ts";

export const getMissingPathsRoutes = new Hono<AppEnv>().post("/", async (c) => {
  const deps = c.get("deps");
  const body = await readJsonBody(c, GetMissingPathsRequestSchema);
  const { cache } = await authorizeCache(deps, c.get("token"), body.cache, ["w"]);
  const unique = [...new Set(body.store_path_hashes)];
  const response: GetMissingPathsResponse = {
    missing_paths: unique.length === 0 ? [] : await getMissingPaths(deps.db, cache.id, unique),
  };
  return c.json(response);
});
