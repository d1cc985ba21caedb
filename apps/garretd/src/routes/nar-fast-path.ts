/**
 * `GET /{cache}/nar/{hash}.nar` answered straight from Node's request, ahead of Hono: a closure is
 * mostly NARs of a few KiB, for which Hono's per-request objects cost more than reading the chunk.
 * Same behaviour as the Hono route, not a copy: the download is `getNarDownload` (authorization,
 * fail-closed chunk checks, pull-through), the response is `sendNar`, and fast-path.ts runs what
 * the Hono pipeline runs around them. HEAD requests, and every download of a server configured to
 * redirect to S3, are left to Hono. nar-fast-path.test.ts sends the same requests both ways and
 * compares.
 */
import { isValidStorePathHash } from "@garret/nix";
import { isValidCacheName } from "@garret/protocol";
import type { Deps } from "../deps.ts";
import { getNarDownload } from "../services/nar-download.ts";
import { type FastPath, type FastRunner, isPlainGet } from "./fast-path.ts";
import { NAR_CONTENT_TYPE, sendNar } from "./nar-body.ts";

const NAR_URL = /^\/([^/?#%]+)\/nar\/([^/?#%.]+)\.nar$/;
/** The route pattern Hono reports for this request, so both paths count into the same series. */
const ROUTE = "/:cache/nar/:file";

/** The fast path, or undefined when downloads may be redirected (`s3-redirect`): Hono answers those. */
export function narFastPath(deps: Deps, run: FastRunner): FastPath | undefined {
  if (deps.settings.s3Redirect && deps.storage.kind === "s3") return undefined;
  return (req, res) => {
    if (!isPlainGet(req)) return false;
    const match = NAR_URL.exec(req.url ?? "");
    const cacheName = match?.[1];
    const hash = match?.[2];
    if (!cacheName || !hash || !isValidCacheName(cacheName) || !isValidStorePathHash(hash)) return false;
    run(req, res, ROUTE, async ({ token, requestId }) => {
      const download = await getNarDownload(deps, token, cacheName, hash, {
        head: false,
        withCredentials: req.headers.authorization !== undefined,
      });
      if (download.kind === "redirect") throw new Error("NAR fast path: redirects are not configured");
      const headers: Record<string, string> = { "content-type": NAR_CONTENT_TYPE, "x-request-id": requestId };
      if (download.isPublic) headers["x-attic-cache-visibility"] = "public";
      await sendNar(res, download, headers);
    });
    return true;
  };
}
