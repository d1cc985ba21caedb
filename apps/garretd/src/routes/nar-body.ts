/**
 * Writes a NAR download's response straight to the Node response (the Hono route under
 * @hono/node-server and the NAR fast path both call `sendNar`). A NAR read whole (one read unit,
 * most of a closure's paths) goes out in one write with its Content-Length. A longer one is
 * streamed, instead of
 * handing Hono a `ReadableStream.from(generator)`: the web-stream bridge costs a promise chain and
 * a socket write per stored chunk (~20-60 KiB each). Here consecutive chunks are corked together
 * until at least `COALESCE_BYTES` are queued, so the socket sees one writev per ~256 KiB; memory
 * stays bounded because the loop waits for "drain" whenever the response's buffer is full, and the
 * generator's own prefetch is the only read-ahead.
 *
 * Failures after the status line (a chunk file vanishing mid-stream) destroy the connection, so the
 * client sees a truncated chunked body, never a short NAR that looks complete.
 */
import type { ServerResponse } from "node:http";
import type { NarDownload } from "../services/nar-download.ts";

const COALESCE_BYTES = 256 * 1024;
export const NAR_CONTENT_TYPE = "application/x-nix-nar";

/** Sends a 200 with `headers` and the NAR's body; resolves once everything is queued on the socket. */
export async function sendNar(
  outgoing: ServerResponse,
  download: Exclude<NarDownload, { kind: "redirect" }>,
  headers: Record<string, string>,
): Promise<void> {
  const { recycle } = download;
  if (download.kind === "buffer") {
    const { data } = download;
    outgoing.writeHead(200, { ...headers, "content-length": String(data.length) });
    // "finish": the bytes are with the kernel. A response cut short never finishes; its buffer is
    // then reclaimed as garbage instead.
    outgoing.end(data, recycle && (() => recycle(data)));
    return;
  }
  await writeNarBody(outgoing, 200, headers, download.body(), recycle);
}

async function writeNarBody(
  outgoing: ServerResponse,
  status: number,
  headers: Record<string, string>,
  body: AsyncGenerator<Uint8Array>,
  recycle: ((piece: Uint8Array) => void) | undefined,
): Promise<void> {
  outgoing.writeHead(status, headers);
  let closed = false;
  const onClose = () => {
    closed = true;
  };
  outgoing.once("close", onClose);
  try {
    let queued = 0;
    outgoing.cork();
    for await (const piece of body) {
      if (closed) break;
      // The callback runs once the piece is written out (or dropped with the connection).
      const room = outgoing.write(piece, recycle && (() => recycle(piece)));
      queued += piece.length;
      if (queued >= COALESCE_BYTES || !room) {
        outgoing.uncork();
        queued = 0;
        if (outgoing.writableNeedDrain) await drained(outgoing);
        if (closed) break;
        outgoing.cork();
      }
    }
    if (queued > 0 || outgoing.writableCorked > 0) outgoing.uncork();
    if (!closed) outgoing.end();
  } catch (err) {
    outgoing.destroy(err instanceof Error ? err : new Error(String(err)));
  } finally {
    outgoing.off("close", onClose);
    // Stops the generator's prefetch when the loop ended early (client gone, error).
    await body.return(undefined).catch(() => undefined);
  }
}

/** Resolves on "drain", or when the response closes first (client gone). */
function drained(outgoing: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      outgoing.off("drain", done);
      outgoing.off("close", done);
      resolve();
    };
    outgoing.on("drain", done);
    outgoing.on("close", done);
  });
}
