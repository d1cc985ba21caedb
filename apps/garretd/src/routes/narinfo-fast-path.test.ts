/**
 * The narinfo fast path answers exactly as the Hono pipeline does: the same requests (public and
 * private caches, tokens that grant, do not grant, are forged or come as Basic auth, missing caches
 * and paths, a refused Host, a client request id, URLs the fast path leaves to Hono) are sent over
 * real HTTP to one server with the fast path and one without, and status, headers and body must
 * match. The fast path must really have answered the requests it claims.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../../../../test/support/app.ts";
import {
  accessCases,
  compareWithHono,
  type FastPathComparison,
  itAnswersAsHono,
  itCountsAsHono,
  publicAndPrivateCaches,
} from "../../../../test/support/fast-path-compare.ts";
import type { PushedPath } from "../../../../test/support/push-nar.ts";
import { fastRunner } from "./fast-path.ts";
import { narInfoFastPath } from "./narinfo-fast-path.ts";

describe("narinfo fast path", () => {
  let t: TestApp;
  let servers: FastPathComparison;
  let fixture: { pub: PushedPath; priv: PushedPath; reader: string; stranger: string };

  beforeAll(async () => {
    t = await createTestApp({ settings: { allowedHosts: ["cache.test"] } });
    const caches = await publicAndPrivateCaches(t);
    fixture = { ...caches, pub: await caches.push("pub", 5000, 1), priv: await caches.push("priv", 5000, 2) };
    servers = await compareWithHono(t, narInfoFastPath(t.deps, fastRunner(t.deps)));
  });

  afterAll(async () => {
    servers?.close();
    await t?.close();
  });

  const basic = (token: string) => `Basic ${Buffer.from(`user:${token}`).toString("base64")}`;
  const narinfo = (cache: string, hash: string) => `/${cache}/${hash}.narinfo`;

  itAnswersAsHono(
    () => servers,
    [
      ...accessCases(narinfo, () => fixture),
      {
        name: "private path, reader token as Basic auth",
        path: () => narinfo("priv", fixture.priv.hash),
        headers: () => ({ authorization: basic(fixture.reader) }),
        status: 200,
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
        path: () => `${narinfo("pub", fixture.pub.hash)}?x=1`,
        status: 200,
        fast: false,
      },
    ],
  );

  it("echoes a well-formed client request id and replaces a malformed one", async () => {
    const path = narinfo("pub", fixture.pub.hash);
    const good = await servers.both(path, { "x-request-id": "ci-42" });
    expect([good.hono.requestId, good.fast.requestId]).toEqual(["ci-42", "ci-42"]);
    const bad = await servers.both(path, { "x-request-id": "bad id with spaces" });
    expect(bad.fast.requestId).not.toBe("bad id with spaces");
    expect(bad.fast.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  itCountsAsHono(
    () => t,
    () => servers,
    "/:cache/:file",
    () => narinfo("pub", fixture.pub.hash),
  );
});
