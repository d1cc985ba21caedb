/**
 * Two servers over one test app's deps: one answers through Hono only, the other tries a fast path
 * (server.ts) first. `both` sends the same request to each over real HTTP and returns what each
 * answered (status, headers but the per-connection and per-request ones, body), so a test can
 * require the two to be identical; `fastAnswers` counts the requests the fast path took. The access
 * cases and the metric check every fast path must pass are here too, so each fast path's test lists
 * only what is its own.
 */
import { once } from "node:events";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { getRequestListener } from "@hono/node-server";
import { expect, it } from "vitest";
import type { FastPath } from "../../apps/garretd/src/routes/fast-path.ts";
import type { TestApp } from "./app.ts";
import { lcgBytes, makeNar } from "./nar.ts";
import { type PushedPath, pushNar } from "./push-nar.ts";

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

/** A public cache `pub` and a private `priv`, a token reading `priv` and one reading another cache. */
export async function publicAndPrivateCaches(t: TestApp): Promise<{
  /** Pushes a NAR of one regular file of `size` pseudo-random bytes as root. */
  push(cache: "pub" | "priv", size: number, seed: number): Promise<PushedPath>;
  reader: string;
  stranger: string;
}> {
  await t.createCache("pub", { isPublic: true });
  await t.createCache("priv");
  const asRoot = (path: string, init: RequestInit) => t.request(path, { ...init, token: t.rootToken });
  return {
    async push(cache, size, seed) {
      const pushed = await pushNar(asRoot, cache, {
        nar: makeNar({ type: "regular", contents: lcgBytes(size, seed) }),
      });
      expect(pushed.status).toBe(200);
      return pushed;
    },
    reader: await t.mintToken("reader", { priv: ["r"] }),
    stranger: await t.mintToken("stranger", { other: ["r"] }),
  };
}

export interface FastPathCase {
  name: string;
  path: () => string;
  headers?: () => Record<string, string>;
  status: number;
  /** Whether the fast path answers it (or leaves it to Hono). */
  fast: boolean;
}

/**
 * The access decisions every fast path makes as Hono does, for `url(cache, hash)`: public and
 * private paths, anonymous and with tokens that grant, do not grant or are forged, a missing path
 * and cache, a refused Host.
 */
export function accessCases(
  url: (cache: string, hash: string) => string,
  fixture: () => { pub: PushedPath; priv: PushedPath; reader: string; stranger: string },
): FastPathCase[] {
  const bearer = (token: () => string) => () => ({ authorization: `Bearer ${token()}` });
  const pub = () => url("pub", fixture().pub.hash);
  const priv = () => url("priv", fixture().priv.hash);
  return [
    { name: "public path, anonymous", path: pub, status: 200, fast: true },
    { name: "public cache, missing path", path: () => url("pub", "0".repeat(32)), status: 404, fast: true },
    { name: "private path, anonymous", path: priv, status: 401, fast: true },
    {
      name: "private path, reader token",
      path: priv,
      headers: bearer(() => fixture().reader),
      status: 200,
      fast: true,
    },
    {
      name: "private path, token for another cache",
      path: priv,
      headers: bearer(() => fixture().stranger),
      status: 401,
      fast: true,
    },
    {
      name: "private path, forged token",
      path: priv,
      headers: bearer(() => `${fixture().reader.slice(0, -4)}AAAA`),
      status: 401,
      fast: true,
    },
    { name: "missing cache", path: () => url("nosuch", fixture().pub.hash), status: 401, fast: true },
    { name: "refused Host", path: pub, headers: () => ({ host: "evil.test" }), status: 400, fast: true },
  ];
}

/** One test per case: the status, identical answers both ways, and whether the fast path took it. */
export function itAnswersAsHono(servers: () => FastPathComparison, cases: FastPathCase[]): void {
  for (const c of cases) {
    it(`${c.name}: ${c.status}, identical both ways`, async () => {
      const before = servers().fastAnswers();
      const { hono, fast } = await servers().both(c.path(), c.headers?.() ?? {});
      expect(servers().fastAnswers() - before).toBe(c.fast ? 1 : 0);
      expect(hono.status, Buffer.from(hono.body, "base64").toString().slice(0, 200)).toBe(c.status);
      expect(fast).toEqual({ ...hono, requestId: fast.requestId });
      expect(fast.requestId).toMatch(/^[A-Za-z0-9._:-]+$/);
    });
  }
}

/** The fast path counts its requests in the same metric series as the Hono route `route`. */
export function itCountsAsHono(
  t: () => TestApp,
  servers: () => FastPathComparison,
  route: string,
  path: () => string,
): void {
  it("counts its requests in the same metric series as Hono", async () => {
    const prefix = `garret_http_requests_total{route="${route}",method="GET",status="200"}`;
    const count = () =>
      Number(
        t()
          .deps.metrics.registry.render()
          .split("\n")
          .find((l) => l.startsWith(prefix))
          ?.split(" ")
          .pop() ?? 0,
      );
    const start = count();
    await servers().both(path(), {});
    expect(count() - start).toBe(2);
  });
}
