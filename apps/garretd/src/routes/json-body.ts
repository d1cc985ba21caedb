/**
 * JSON request bodies for the API routes: capped at 2 MiB (atticd's framework default), parsed, and
 * checked against the shared wire schema. Every failure is a 400 `RequestError` in the JSON envelope
 * (atticd answers some of these with framework text errors and 415/422; see README). Bodies are read
 * only for callers with a verified token unless the route says otherwise (caller.ts).
 */
import type { Context } from "hono";
import type { z } from "zod";
import type { AppEnv } from "../env.ts";
import { AtticError, requestError } from "../errors.ts";
import { requireToken } from "./caller.ts";

export const JSON_BODY_LIMIT = 2 * 1024 * 1024;

export interface JsonBodyOptions {
  /** The body is the credential (OIDC exchange): read it without a token, within `limit`. */
  anonymous?: boolean;
  /** Bytes; JSON_BODY_LIMIT by default. */
  limit?: number;
}

export async function readJsonBody<S extends z.ZodType>(
  c: Context<AppEnv>,
  schema: S,
  options: JsonBodyOptions = {},
): Promise<z.infer<S>> {
  if (!options.anonymous) requireToken(c);
  const limit = options.limit ?? JSON_BODY_LIMIT;
  const length = Number(c.req.header("content-length") ?? "0");
  if (length > limit) throw tooLarge(limit);
  const text = await readLimitedText(c.req.raw.body, limit);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw requestError(`Failed to parse the request body as JSON: ${(err as Error).message}`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join(".")}: ` : "";
    throw requestError(`Invalid request body: ${where}${issue?.message ?? "invalid"}`);
  }
  return parsed.data;
}

function tooLarge(limit: number): AtticError {
  const size = limit % (1024 * 1024) === 0 ? `${limit / 1024 / 1024} MiB` : `${limit} bytes`;
  return new AtticError("PayloadTooLarge", { detail: `JSON body over ${size}` });
}

async function readLimitedText(body: ReadableStream<Uint8Array> | null, limit: number): Promise<string> {
  if (!body) return "";
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const piece of body) {
    size += piece.length;
    if (size > limit) throw tooLarge(limit);
    parts.push(piece);
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(parts));
  } catch {
    throw requestError("Request body is not valid UTF-8");
  }
}
