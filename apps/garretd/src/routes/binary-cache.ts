/**
 * The Nix binary cache interface of a cache: `nix-cache-info`, `<hash>.narinfo` and
 * `nar/<hash>.nar` (GET and HEAD), as Nix's HttpBinaryCacheStore reads them; and garret's
 * `DELETE <hash>.narinfo`, which removes the path from the cache (needs `d`).
 */
import type { ServerResponse } from "node:http";
import { formatNixCacheInfo } from "@garret/nix";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { authorizeCache } from "../services/authorize-cache.ts";
import { deletePath } from "../services/delete-path.ts";
import { getNarDownload } from "../services/nar-download.ts";
import { getNarInfo } from "../services/narinfo.ts";
import { cacheConfigGet } from "./cache-config.ts";
import { NAR_CONTENT_TYPE, sendNar } from "./nar-body.ts";
import { cacheParam, hashWithSuffix } from "./params.ts";

export const binaryCacheRoutes = new Hono<AppEnv>()
  .get("/:cache/nix-cache-info", async (c) => {
    const { cache } = await authorizeCache(c.get("deps"), c.get("token"), cacheParam(c), ["r"]);
    c.set("publicCache", cache.isPublic);
    const text = formatNixCacheInfo({
      storeDir: cache.storeDir,
      priority: cache.priority,
      wantMassQuery: true,
    });
    return c.body(text, 200, { "content-type": "text/x-nix-cache-info" });
  })
  .get("/:cache/attic-cache-info", cacheConfigGet)
  .get("/:cache/nar/:file", async (c) => {
    const name = cacheParam(c);
    const hash = hashWithSuffix(c.req.param("file"), "nar");
    const head = c.req.method === "HEAD";
    const download = await getNarDownload(c.get("deps"), c.get("token"), name, hash, {
      head,
      withCredentials: c.req.header("authorization") !== undefined,
    });
    c.set("publicCache", download.isPublic);
    if (download.kind === "redirect") return c.redirect(download.url, 307);
    const headers = { "content-type": NAR_CONTENT_TYPE };
    const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
    if (!head && outgoing) {
      // Under @hono/node-server: the body goes to the socket directly (nar-body.ts says why).
      if (download.isPublic) c.header("x-attic-cache-visibility", "public");
      const record: Record<string, string> = {};
      c.body(null, 200, headers).headers.forEach((value, key) => {
        record[key] = value;
      });
      // Not awaited: the metrics middleware counts the transfer when the response finishes.
      void sendNar(outgoing, download, record);
      return RESPONSE_ALREADY_SENT;
    }
    const body = download.kind === "buffer" ? download.data : ReadableStream.from(download.body());
    return c.body(body as ReadableStream, 200, headers);
  })
  .get("/:cache/:file", async (c) => {
    const name = cacheParam(c);
    const hash = hashWithSuffix(c.req.param("file"), "narinfo");
    const { text, isPublic } = await getNarInfo(c.get("deps"), c.get("token"), name, hash);
    c.set("publicCache", isPublic);
    return c.body(text, 200, { "content-type": "text/x-nix-narinfo" });
  })
  .delete("/:cache/:file", async (c) => {
    const name = cacheParam(c);
    await deletePath(c.get("deps"), c.get("token"), name, hashWithSuffix(c.req.param("file"), "narinfo"));
    return c.body(null, 200);
  });
