/**
 * garret's chunk-upload extension under `/_api/v1/garret/chunk-upload` (docs/chunk-upload.md):
 *   GET                      the offer (chunking parameters, request limit); 404 when off
 *   POST /{cache}/missing    {"nar_hash", "chunks"} → {"missing"}             (needs `w`)
 *   PUT  /{cache}/chunks?nar_hash=…   framed chunks → {"received"}          (needs `w`)
 *   POST /{cache}/commit     {"nar_info", "chunks"} → upload-path's result, or 409 MissingChunks
 */
import {
  CommitChunkedNarRequestSchema,
  type MissingChunksError,
  MissingChunksRequestSchema,
} from "@garret/protocol";
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { AtticError, requestError } from "../errors.ts";
import { ByteReader } from "../services/byte-source.ts";
import {
  chunkUploadOffer,
  commitChunkedNar,
  missingChunks,
  receiveChunks,
} from "../services/chunk-upload.ts";
import { readJsonBody } from "./json-body.ts";
import { cacheParam } from "./params.ts";
import { requestBodySource } from "./request-body.ts";

const HEX_HASH = /^[0-9a-f]{64}$/;

export const chunkUploadRoutes = new Hono<AppEnv>()
  .get("/", (c) => {
    const offer = chunkUploadOffer(c.get("deps").settings);
    if (!offer) throw new AtticError("NotFound");
    return c.json(offer);
  })
  .post("/:cache/missing", async (c) => {
    const deps = c.get("deps");
    const cache = cacheParam(c);
    const body = await readJsonBody(c, MissingChunksRequestSchema, {
      limit: deps.settings.chunkUploadMaxRequestBytes,
    });
    const missing = await missingChunks(deps, c.get("token"), cache, body.nar_hash, body.chunks);
    return c.json({ missing });
  })
  .put("/:cache/chunks", async (c) => {
    const deps = c.get("deps");
    const cache = cacheParam(c);
    const narHash = c.req.query("nar_hash") ?? "";
    if (!HEX_HASH.test(narHash)) throw requestError("nar_hash must be 64 lower-case hex digits");
    const length = c.req.header("content-length");
    const reader = new ByteReader(requestBodySource(c));
    try {
      const ack = await receiveChunks(
        deps,
        c.get("token"),
        cache,
        narHash,
        reader.rest(),
        length === undefined ? null : Number(length),
      );
      return c.json(ack);
    } catch (err) {
      // A refused body is not read to its end: the connection closes after the answer.
      c.header("connection", "close");
      throw err;
    }
  })
  .post("/:cache/commit", async (c) => {
    const deps = c.get("deps");
    const cache = cacheParam(c);
    const body = await readJsonBody(c, CommitChunkedNarRequestSchema, {
      limit: deps.settings.chunkUploadMaxRequestBytes,
    });
    const outcome = await commitChunkedNar(deps, c.get("token"), cache, body.nar_info, body.chunks);
    if (outcome.kind === "committed") return c.json(outcome.result);
    const error: MissingChunksError = {
      code: 409,
      error: "MissingChunks",
      message: `${outcome.missing.length} chunk(s) must be uploaded before this commit`,
      missing: outcome.missing,
    };
    return c.json(error, 409);
  });
