/**
 * The upstream NAR download's stall timeout measures the upstream, not garret: a consumer that takes
 * longer than `stallMs` over each piece (a loaded machine, a slow first client) does not fail a
 * fetch whose upstream answers at once, while an upstream that stops sending still fails it.
 */
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, expect, it } from "vitest";
import { openNar, UpstreamFailure } from "./upstream-client.ts";

const PIECE = Buffer.alloc(64 * 1024, 7);
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer(async (req, res) => {
    res.writeHead(200, { "content-type": "application/x-nix-nar" });
    for (let i = 0; i < 4; i++) {
      if (!res.write(PIECE)) await once(res, "drain");
      if (req.url === "/stalls" && i === 1) return; // sends two pieces, then nothing
    }
    res.end();
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

it("a consumer slower than stallMs gets every byte of an upstream that answers at once", async () => {
  const nar = await openNar(`${base}/fast`, { headerMs: 2000, stallMs: 150 });
  let bytes = 0;
  for await (const piece of nar.body) {
    bytes += piece.length;
    await sleep(400);
  }
  expect(bytes).toBe(4 * PIECE.length);
});

it("an upstream that stops sending fails the download after stallMs", async () => {
  const nar = await openNar(`${base}/stalls`, { headerMs: 2000, stallMs: 300 });
  let bytes = 0;
  const read = (async () => {
    for await (const piece of nar.body) bytes += piece.length;
  })();
  await expect(read).rejects.toBeInstanceOf(UpstreamFailure);
  expect(bytes).toBe(2 * PIECE.length);
});
