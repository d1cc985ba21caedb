/**
 * The write side of the Nix binary cache interface, for plain `nix copy --to http://host/CACHE`
 * (token as the netrc password): `PUT nix-cache-info`, `HEAD`/`PUT nar/<filehash>.nar[.ext]`,
 * `PUT <hash>.narinfo`, `PUT <hash>.ls` (ignored) and a 4xx for every other PUT. Mounted ahead of
 * the read routes; a HEAD of a download name (`nar/<storehash>.nar`) falls through to them.
 */
import { MAX_NARINFO_SIZE } from "@garret/nix";
import { type Context, Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { AtticError, requestError } from "../errors.ts";
import { authorizeCache } from "../services/authorize-cache.ts";
import {
  acceptNarListing,
  acceptNixCacheInfo,
  isNixNarFileName,
  nixNarUploaded,
  receiveNixNar,
  receiveNixNarInfo,
  rejectUpload,
} from "../services/nix-upload.ts";
import { cacheParam, hashWithSuffix } from "./params.ts";
import { requestBodySource } from "./request-body.ts";

export const nixUploadRoutes = new Hono<AppEnv>()
  .put("/:cache/nix-cache-info", async (c) => {
    await acceptNixCacheInfo(c.get("deps"), c.get("token"), cacheParam(c));
    return c.body(null, 204);
  })
  .get("/:cache/nar/:file", async (c, next) => {
    const file = c.req.param("file");
    if (c.req.method !== "HEAD" || !isNixNarFileName(file)) return next();
    const uploaded = await nixNarUploaded(c.get("deps"), c.get("token"), cacheParam(c), file);
    return c.body(null, uploaded ? 200 : 404);
  })
  .put("/:cache/nar/:file", async (c) => {
    const name = cacheParam(c);
    const received = await receiveNixNar(
      c.get("deps"),
      c.get("token"),
      name,
      c.req.param("file"),
      contentLength(c),
      requestBodySource(c),
    );
    return c.json({
      nar_hash: received.narHash,
      nar_size: received.narSize,
      file_size: received.fileSize,
      chunks: received.numChunks,
      deduplicated_chunks: received.deduplicatedChunks,
    });
  })
  .put("/:cache/:file", async (c) => {
    const deps = c.get("deps");
    const name = cacheParam(c);
    const file = c.req.param("file");
    if (file.endsWith(".narinfo")) {
      const hash = hashWithSuffix(file, "narinfo");
      // Authorized before the body is read: only pushers of this cache make the server buffer it.
      await authorizeCache(deps, c.get("token"), name, ["w"]);
      const text = await readNarInfoBody(c);
      const outcome = await receiveNixNarInfo(deps, c.get("token"), name, hash, text);
      return c.json({ outcome });
    }
    if (file.endsWith(".ls")) {
      await acceptNarListing(deps, c.get("token"), name);
      return c.body(null, 204);
    }
    return rejectUpload(deps, c.get("token"), name, file);
  })
  .put("/:cache/*", async (c) => {
    const name = cacheParam(c);
    const path = c.req.path.slice(c.req.path.indexOf(name) + name.length + 1);
    return rejectUpload(c.get("deps"), c.get("token"), name, path);
  });

function contentLength(c: Context<AppEnv>): number | null {
  const value = c.req.header("content-length");
  return value !== undefined && /^\d{1,16}$/.test(value) ? Number(value) : null;
}

async function readNarInfoBody(c: Context<AppEnv>): Promise<string> {
  const tooLarge = () =>
    new AtticError("PayloadTooLarge", { detail: `narinfo files are limited to ${MAX_NARINFO_SIZE} bytes` });
  const declared = contentLength(c);
  if (declared !== null && declared > MAX_NARINFO_SIZE) throw tooLarge();
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const piece of requestBodySource(c)) {
    size += piece.length;
    if (size > MAX_NARINFO_SIZE) throw tooLarge();
    parts.push(piece);
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(parts));
  } catch {
    throw requestError("narinfo is not valid UTF-8");
  }
}
