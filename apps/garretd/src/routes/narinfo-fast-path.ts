/**
 * `GET /{cache}/{hash}.narinfo` answered straight from Node's request, ahead of Hono. It is the
 * request Nix makes most (once per path of every closure it considers), and with the narinfo memo
 * the answer itself costs a few microseconds. Same behaviour as the Hono route, not a copy: the
 * lookup is `getNarInfo`, and fast-path.ts runs what the Hono pipeline runs around it.
 * narinfo-fast-path.test.ts sends the same requests both ways and compares.
 */
import { isValidStorePathHash } from "@garret/nix";
import { isValidCacheName } from "@garret/protocol";
import type { Deps } from "../deps.ts";
import { getNarInfo } from "../services/narinfo.ts";
import { type FastPath, type FastRunner, isPlainGet } from "./fast-path.ts";

const NARINFO_URL = /^\/([^/?#%]+)\/([^/?#%.]+)\.narinfo$/;
/** The route pattern Hono reports for this request, so both paths count into the same series. */
const ROUTE = "/:cache/:file";

export function narInfoFastPath(deps: Deps, run: FastRunner): FastPath {
  return (req, res) => {
    if (!isPlainGet(req)) return false;
    const match = NARINFO_URL.exec(req.url ?? "");
    const cacheName = match?.[1];
    const hash = match?.[2];
    if (!cacheName || !hash || !isValidCacheName(cacheName) || !isValidStorePathHash(hash)) return false;
    run(req, res, ROUTE, async ({ token, requestId }) => {
      const { text, isPublic } = await getNarInfo(deps, token, cacheName, hash);
      const headers: Record<string, string | number> = {
        "content-type": "text/x-nix-narinfo",
        "content-length": Buffer.byteLength(text),
        "x-request-id": requestId,
      };
      if (isPublic) headers["x-attic-cache-visibility"] = "public";
      res.writeHead(200, headers);
      res.end(text);
    });
    return true;
  };
}
