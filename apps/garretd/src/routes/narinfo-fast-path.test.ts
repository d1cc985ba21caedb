/**
 * The narinfo fast path answers exactly as the Hono pipeline does: the same requests (public and
 * private caches, tokens that grant, do not grant, are forged or come as Basic auth, missing caches
 * and paths, a refused Host, a client request id, URLs the fast path leaves to Hono) are sent over
 * real HTTP to one server with the fast path and one without, and status, headers and body must
 * match. The fast path must really have answered the requests it claims.
 */
import { once } from "node:events";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { getRequestListener } from "@hono/node-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../../../../test/support/app.ts";
import { lcgBytes, makeNar } from "../../../../test/support/nar.ts";
import { type PushedPath, pushNar } from "../../../../test/support/push-nar.ts";
import { narInfoFastPath } from "./narinfo-fast-path.ts";

const IGNORED_HEADERS = new Set(["date", "connection", "keep-alive", "x-request-id"]);

describe("narinfo fast path", () => {
  let t: TestApp;
  let viaHono: Server;
  let viaFastPath: Server;
  let fastAnswers = 0;
  let pub: PushedPath;
  let priv: PushedPath;
  let reader: string;
  let stranger: string;

  const listen = async (server: Server) => {
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  let honoUrl: string;
  let fastUrl: string;

  beforeAll(async () => {
    t = await createTestApp({ settings: { allowedHosts: ["cache.test"] } });
    await t.createCache("pub", { isPublic: true });
    await t.createCache("priv");
    const asRoot = (path: string, init: RequestInit) => t.request(path, { ...init, token: t.rootToken });
    pub = await pushNar(asRoot, "pub", { nar: makeNar({ type: "regular", contents: lcgBytes(5000, 1) }) });
    priv = await pushNar(asRoot, "priv", {
      nar: makeNar({ type: "regular", contents: lcgBytes(5000, 2) }),
    });
    expect([pub.status, priv.status]).toEqual([200, 200]);
    reader = await t.mintToken("reader", { priv: ["r"] });
    stranger = await t.mintToken("stranger", { other: ["r"] });

    const listener = getRequestListener(t.app.fetch);
    const fast = narInfoFastPath(t.deps);
    viaHono = createServer(listener);
    viaFastPath = createServer((req, res) => {
      if (fast(req, res)) fastAnswers++;
      else listener(req, res);
    });
    honoUrl = await listen(viaHono);
    fastUrl = await listen(viaFastPath);
  });

  afterAll(async () => {
    viaHono?.close();
    viaFastPath?.close();
    await t?.close();
  });

  async function both(path: string, headers: Record<string, string>) {
    // node:http rather than fetch, which does not let a caller set Host.
    const ask = (base: string) =>
      new Promise<{ status: number; headers: string[][]; body: string; requestId: string | undefined }>(
        (resolve, reject) => {
          const req = request(`${base}${path}`, { headers: { host: "cache.test", ...headers } }, (res) => {
            let body = "";
            res.setEncoding("utf8");
            res.on("data", (piece: string) => {
              body += piece;
            });
            res.on("end", () => {
              const kept = Object.entries(res.headers)
                .filter(([name]) => !IGNORED_HEADERS.has(name))
                .map(([name, value]) => [name, String(value)])
                .sort();
              const id = res.headers["x-request-id"];
              resolve({
                status: res.statusCode ?? 0,
                headers: kept,
                body,
                requestId: id === undefined ? undefined : String(id),
              });
            });
          });
          req.on("error", reject);
          req.end();
        },
      );
    return { hono: await ask(honoUrl), fast: await ask(fastUrl) };
  }

  const basic = (token: string) => `Basic ${Buffer.from(`user:${token}`).toString("base64")}`;

  const cases: Array<{
    name: string;
    path: () => string;
    headers?: () => Record<string, string>;
    status: number;
    fast: boolean;
  }> = [
    { name: "public path, anonymous", path: () => `/pub/${pub.hash}.narinfo`, status: 200, fast: true },
    {
      name: "public cache, missing path",
      path: () => `/pub/${"0".repeat(32)}.narinfo`,
      status: 404,
      fast: true,
    },
    { name: "private path, anonymous", path: () => `/priv/${priv.hash}.narinfo`, status: 401, fast: true },
    {
      name: "private path, reader token",
      path: () => `/priv/${priv.hash}.narinfo`,
      headers: () => ({ authorization: `Bearer ${reader}` }),
      status: 200,
      fast: true,
    },
    {
      name: "private path, reader token as Basic auth",
      path: () => `/priv/${priv.hash}.narinfo`,
      headers: () => ({ authorization: basic(reader) }),
      status: 200,
      fast: true,
    },
    {
      name: "private path, token for another cache",
      path: () => `/priv/${priv.hash}.narinfo`,
      headers: () => ({ authorization: `Bearer ${stranger}` }),
      status: 401,
      fast: true,
    },
    {
      name: "private path, forged token",
      path: () => `/priv/${priv.hash}.narinfo`,
      headers: () => ({ authorization: `Bearer ${reader.slice(0, -4)}AAAA` }),
      status: 401,
      fast: true,
    },
    { name: "missing cache", path: () => `/nosuch/${pub.hash}.narinfo`, status: 401, fast: true },
    {
      name: "refused Host",
      path: () => `/pub/${pub.hash}.narinfo`,
      headers: () => ({ host: "evil.test" }),
      status: 400,
      fast: true,
    },
    {
      name: "malformed hash (left to Hono)",
      path: () => "/pub/not-a-hash.narinfo",
      status: 400,
      fast: false,
    },
    {
      name: "query string (left to Hono)",
      path: () => `/pub/${pub.hash}.narinfo?x=1`,
      status: 200,
      fast: false,
    },
  ];

  for (const c of cases) {
    it(`${c.name}: ${c.status}, identical both ways`, async () => {
      const before = fastAnswers;
      const { hono, fast } = await both(c.path(), c.headers?.() ?? {});
      expect(fastAnswers - before).toBe(c.fast ? 1 : 0);
      expect(hono.status, hono.body).toBe(c.status);
      expect(fast).toEqual({ ...hono, requestId: fast.requestId });
      expect(fast.requestId).toMatch(/^[A-Za-z0-9._:-]+$/);
    });
  }

  it("echoes a well-formed client request id and replaces a malformed one", async () => {
    const path = `/pub/${pub.hash}.narinfo`;
    const good = await both(path, { "x-request-id": "ci-42" });
    expect([good.hono.requestId, good.fast.requestId]).toEqual(["ci-42", "ci-42"]);
    const bad = await both(path, { "x-request-id": "bad id with spaces" });
    expect(bad.fast.requestId).not.toBe("bad id with spaces");
    expect(bad.fast.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("counts its requests in the same metric series as Hono", async () => {
    const series = () =>
      t.deps.metrics.registry
        .render()
        .split("\n")
        .find((l) =>
          l.startsWith('garret_http_requests_total{route="/:cache/:file",method="GET",status="200"}'),
        );
    const count = () => Number(series()?.split(" ").pop() ?? 0);
    const start = count();
    await both(`/pub/${pub.hash}.narinfo`, {});
    expect(count() - start).toBe(2);
  });
});
