/**
 * Two servers over one test app's deps: one answers through Hono only, the other tries a fast path
 * (server.ts) first. `both` sends the same request to each over real HTTP and returns what each
 * answered (status, headers but the per-connection and per-request ones, body), so a test can
 * require the two to be identical; `fastAnswers` counts the requests the fast path took.
 */
import { once } from "node:events";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { getRequestListener } from "@hono/node-server";
import type { FastPath } from "../../apps/garretd/src/routes/fast-path.ts";
import type { TestApp } from "./app.ts";

const IGNORED_HEADERS = new Set(["date", "connection", "keep-alive", "x-request-id"]);

export interface Answer {
  status: number;
  headers: string[][];
  /** The body, base64 (NARs are binary). */
  body: string;
  requestId: string | undefined;
}

export interface FastPathComparison {
  /** Hono is asked first unless `fastFirst` (for requests whose first answer changes state). */
  both(
    path: string,
    headers: Record<string, string>,
    opts?: { fastFirst?: boolean },
  ): Promise<{ hono: Answer; fast: Answer }>;
  /** The request to the fast path's server only. */
  fast(path: string, headers?: Record<string, string>): Promise<Answer>;
  fastAnswers(): number;
  close(): void;
}

export async function compareWithHono(t: TestApp, fast: FastPath): Promise<FastPathComparison> {
  const listener = getRequestListener(t.app.fetch);
  let answered = 0;
  const viaHono = createServer(listener);
  const viaFastPath = createServer((req, res) => {
    if (fast(req, res)) answered++;
    else listener(req, res);
  });
  const listen = async (server: Server) => {
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  const honoUrl = await listen(viaHono);
  const fastUrl = await listen(viaFastPath);

  // node:http rather than fetch, which does not let a caller set Host.
  const ask = (base: string, path: string, headers: Record<string, string>) =>
    new Promise<Answer>((resolve, reject) => {
      const req = request(`${base}${path}`, { headers: { host: "cache.test", ...headers } }, (res) => {
        const pieces: Buffer[] = [];
        res.on("data", (piece: Buffer) => pieces.push(piece));
        res.on("error", reject);
        res.on("end", () => {
          const kept = Object.entries(res.headers)
            .filter(([name]) => !IGNORED_HEADERS.has(name))
            .map(([name, value]) => [name, String(value)])
            .sort();
          const id = res.headers["x-request-id"];
          resolve({
            status: res.statusCode ?? 0,
            headers: kept,
            body: Buffer.concat(pieces).toString("base64"),
            requestId: id === undefined ? undefined : String(id),
          });
        });
      });
      req.on("error", reject);
      req.end();
    });

  return {
    async both(path, headers, opts = {}) {
      if (opts.fastFirst) {
        const fast = await ask(fastUrl, path, headers);
        return { hono: await ask(honoUrl, path, headers), fast };
      }
      return { hono: await ask(honoUrl, path, headers), fast: await ask(fastUrl, path, headers) };
    },
    fast: (path, headers = {}) => ask(fastUrl, path, headers),
    fastAnswers: () => answered,
    close() {
      viaHono.close();
      viaFastPath.close();
    },
  };
}
