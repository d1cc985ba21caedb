/**
 * The raw request body as bytes. Under @hono/node-server the Node IncomingMessage is iterated
 * directly (no web-stream conversion on the upload hot path); under `app.request()` in tests the
 * web ReadableStream is used.
 */
import type { IncomingMessage } from "node:http";
import type { Context } from "hono";
import type { AppEnv } from "../env.ts";

export function requestBodySource(c: Context<AppEnv>): AsyncIterable<Uint8Array> {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (incoming) return incoming;
  return c.req.raw.body ?? emptySource();
}

async function* emptySource(): AsyncGenerator<Uint8Array> {}
