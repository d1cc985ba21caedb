/**
 * `PUT /_api/v1/upload-path` framing (attic-protocol §2.1): NAR info from `X-Attic-Nar-Info`, or
 * a JSON preamble of `X-Attic-Nar-Info-Preamble-Size` bytes (capped by `max-nar-info-size`) at the
 * start of the body; the rest of the body is the raw NAR, streamed.
 */
import {
  NAR_INFO_HEADER,
  NAR_INFO_PREAMBLE_SIZE_HEADER,
  type UploadPathNarInfo,
  UploadPathNarInfoSchema,
} from "@garret/protocol";
import { type Context, Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { requestError } from "../errors.ts";
import { ByteReader } from "../services/byte-source.ts";
import { checkNarInfo, uploadPath } from "../services/upload-path.ts";
import { requireToken } from "./caller.ts";
import { requestBodySource } from "./request-body.ts";

export const uploadPathRoutes = new Hono<AppEnv>().put("/", async (c) => {
  const deps = c.get("deps");
  requireToken(c);
  const reader = new ByteReader(requestBodySource(c));
  try {
    const info = parseNarInfo(await readNarInfoText(c, reader, deps.settings.maxNarInfoSize));
    const checked = checkNarInfo(info);
    const result = await uploadPath(deps, c.get("token"), checked, reader.rest(info.nar_size));
    if (!(await reader.drain())) c.header("connection", "close");
    return c.json(result);
  } catch (err) {
    // Read what little is left so the error reaches the client on a connection that stays usable.
    await reader.drain().catch(() => false);
    throw err;
  }
});

async function readNarInfoText(c: Context<AppEnv>, reader: ByteReader, maxSize: number): Promise<string> {
  const preamble = c.req.header(NAR_INFO_PREAMBLE_SIZE_HEADER);
  if (preamble !== undefined) {
    if (!/^\d{1,15}$/.test(preamble)) {
      throw requestError("X-Attic-Nar-Info-Preamble-Size must be a valid unsigned integer");
    }
    const size = Number(preamble);
    if (size > maxSize) throw requestError("Upload info is too large");
    const bytes = await reader.readExact(size);
    if (!bytes) throw requestError("Upload info doesn't match specified size");
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      throw requestError("Upload info has invalid encoding");
    }
  }
  const header = c.req.header(NAR_INFO_HEADER);
  if (header === undefined) throw requestError("X-Attic-Nar-Info must be set");
  if (header.length > maxSize) throw requestError("Upload info is too large");
  return header;
}

function parseNarInfo(text: string): UploadPathNarInfo {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw requestError(`Invalid NAR info JSON: ${(err as Error).message}`);
  }
  const parsed = UploadPathNarInfoSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join(".")}: ` : "";
    throw requestError(`Invalid NAR info: ${where}${issue?.message ?? "invalid"}`);
  }
  return parsed.data;
}
