/**
 * Writes a NAR download's body straight to the Node response under @hono/node-server, instead of
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

const COALESCE_BYTES = 256 * 1024;

export async function writeNarBody(
  outgoing: ServerResponse,
  status: number,
  headers: Headers,
  body: AsyncGenerator<Uint8Array>,
): Promise<void> {
  const record: Record<string, string> = {};
  headers.forEach((value, key) => {
    record[key] = value;
  });
  outgoing.writeHead(status, record);
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
      const room = outgoing.write(piece);
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
