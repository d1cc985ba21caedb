/**
 * An authentic token that has expired makes the request anonymous (as in atticd), and the 401/403
 * that follows says so with the expiry date, so its sender knows to get a new token. A token that
 * is not authentic gets the plain answer.
 */
import { randomBytes } from "node:crypto";
import { type CachePermissions, createTokenAuthority } from "@garret/token";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../../../../test/support/app.ts";
import { grant } from "../../../../test/support/grants.ts";

let t: TestApp;
const EXPIRED_AT = Date.UTC(2025, 0, 2, 3, 4, 5) / 1000;
let expired: string;
let foreign: string;

beforeAll(async () => {
  t = await createTestApp();
  await t.createCache("priv");
  await t.createCache("pub", { isPublic: true });
  const caches: CachePermissions = [["*", grant(["r", "w"])]];
  const validitySeconds = 3600;
  expired = await t.tokens.mint({ sub: "ci", validitySeconds, caches, now: EXPIRED_AT - 3600 });
  const other = await createTokenAuthority({ hs256Secret: randomBytes(32) });
  foreign = await other.mint({ sub: "ci", validitySeconds, caches, now: EXPIRED_AT - 3600 });
});
afterAll(() => t.close());

async function message(path: string, token: string, init: RequestInit = {}) {
  const res = await t.request(path, { ...init, token });
  const body = (await res.json()) as { error: string; message: string };
  return { status: res.status, ...body };
}

describe("expired tokens", () => {
  it("a private cache answers 401 naming the expiry", async () => {
    for (const path of [
      "/priv/nix-cache-info",
      "/_api/v1/cache-config/priv",
      `/priv/${"a".repeat(32)}.narinfo`,
    ]) {
      const r = await message(path, expired);
      expect(r.status, path).toBe(401);
      expect(r.error).toBe("Unauthorized");
      expect(r.message).toBe(
        "Unauthorized. The token sent expired at 2025-01-02T03:04:05.000Z, so the request was anonymous; use a new token.",
      );
    }
  });

  it("a public cache refuses a push with 403 naming the expiry", async () => {
    // A narinfo PUT names its cache in the URL, so the push check runs before the body is read.
    const r = await message("/pub/nm1w9sdm6j6icmhd2q3260hl1w9zj6li.narinfo", expired, {
      method: "PUT",
      headers: { "content-type": "text/x-nix-narinfo" },
      body: "StorePath: /nix/store/nm1w9sdm6j6icmhd2q3260hl1w9zj6li-x\n",
    });
    expect(r.status).toBe(403);
    expect(r.message).toContain("The token sent expired at 2025-01-02T03:04:05.000Z");
  });

  it("a token signed by another key gets the plain answer", async () => {
    const r = await message("/priv/nix-cache-info", foreign);
    expect(r.status).toBe(401);
    expect(r.message).toBe("Unauthorized.");
  });
});
