/**
 * Streaming `PUT` over node:http/https with real backpressure. Node 20's fetch (undici 6) does not
 * wait for the socket to drain when the body is a stream: pushing a 512 MiB NAR to a server slower
 * than `nix-store --dump` grew the client to over 600 MB. `stream.pipeline` into an
 * `http.ClientRequest` keeps the client at a few tens of MB regardless of the NAR size.
 *
 * The server may answer before it has read the whole body (401, 403, a framing error); that answer
 * wins over the broken-pipe error the rest of the upload then runs into.
 */
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { request as httpsRequest } from "node:https";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

export interface PutResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

export type PutStream = (
  url: URL,
  headers: Record<string, string>,
  body: AsyncIterable<Uint8Array>,
) => Promise<PutResponse>;

/** How long a socket error waits for a response the server may already have sent. */
const RESPONSE_GRACE_MS = 1000;

/** Marks errors raised by the body producer (e.g. `nix-store --dump` failing), which are never retried. */
export class BodyError extends Error {
  override readonly cause: unknown;

  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause));
    this.cause = cause;
  }
}

export const nodePutStream: PutStream = (url, headers, body) =>
  new Promise((resolve, reject) => {
    const req = (url.protocol === "https:" ? httpsRequest : httpRequest)(url, { method: "PUT", headers });
    let responded = false;
    let settled = false;
    const fail = (e: unknown) => {
      if (settled) return;
      settled = true;
      req.destroy();
      reject(e);
    };
    req.on("response", (res) => {
      responded = true;
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", fail);
      res.on("end", () => {
        if (settled) return;
        settled = true;
        const status = res.statusCode ?? 0;
        // a non-2xx answer ends the exchange; the rest of the NAR is not wanted
        if (status < 200 || status > 299) req.destroy();
        resolve({ status, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") });
      });
    });
    req.on("error", (e) => {
      if (!responded) setTimeout(() => !responded && fail(e), RESPONSE_GRACE_MS).unref();
    });
    async function* guarded(): AsyncGenerator<Uint8Array> {
      try {
        yield* body;
      } catch (e) {
        throw new BodyError(e);
      }
    }
    pipeline(Readable.from(guarded(), { objectMode: false }), req).catch((e: unknown) => {
      if (e instanceof BodyError) fail(e);
      // socket errors are handled by the request's error listener
    });
  });
