/**
 * The narinfo fast path answers exactly as the Hono pipeline does: the same requests (public and
 * private caches, tokens that grant, do not grant, are forged or come as Basic auth, missing caches
 * and paths, a refused Host, a client request id, URLs the fast path leaves to Hono) are sent over
 * real HTTP to one server with the fast path and one without, and status, headers and body must
 * match. The fast path must really have answered the requests it claims.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../../../../test/support/app.ts";
import { compareWithHono, type FastPathComparison } from "../../../../test/support/fast-path-compare.ts";
import { lcgBytes, makeNar } from "../../../../test/support/nar.ts";
import { type PushedPath, pushNar } from "../../../../test/support/push-nar.ts";
import { fastRunner } from "./fast-path.ts";
import { narInfoFastPath } from "./narinfo-fast-path.ts";

describe("narinfo fast path", () => {
  let t: TestApp;
  let servers: FastPathComparison;
  let pub: PushedPath;
  let priv: PushedPath;
  let reader: string;
  let stranger: string;

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

    servers = await compareWithHono(t, narInfoFastPath(t.deps, fastRunner(t.deps)));
  });

  afterAll(async () => {
    servers?.close();
    await t?.close();
  });

  const both = (path: string, headers: Record<string, string>) => servers.both(path, headers);

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
      const before = servers.fastAnswers();
      const { hono, fast } = await both(c.path(), c.headers?.() ?? {});
      expect(servers.fastAnswers() - before).toBe(c.fast ? 1 : 0);
      expect(hono.status, Buffer.from(hono.body, "base64").toString()).toBe(c.status);
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
