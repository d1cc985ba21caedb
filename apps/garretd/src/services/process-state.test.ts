/**
 * Writers say what they changed: the narinfo memo is forgotten when objects change (an upload, a
 * narinfo from `nix copy`, a deletion, a cache reconfigured), whatever the HTTP method, and requests
 * that change nothing (a refused upload, `PUT nix-cache-info`, a pin) keep it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../../../../test/support/app.ts";
import { narOfFile, randomStorePathHash, sha256Hex } from "../../../../test/support/nar.ts";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
  await t.createCache("memo");
});
afterAll(() => t.close());

function upload(hash: string, nar: Buffer, narHash = sha256Hex(nar)) {
  return t.request("/_api/v1/upload-path", {
    method: "PUT",
    token: t.rootToken,
    headers: {
      "x-attic-nar-info": JSON.stringify({
        cache: "memo",
        store_path_hash: hash,
        store_path: `/nix/store/${hash}-memo`,
        references: [],
        nar_hash: narHash,
        nar_size: nar.length,
      }),
    },
    body: nar,
  });
}

describe("process state follows what writers changed", () => {
  it("forgets on uploads and deletions, keeps across requests that change nothing", async () => {
    const memo = t.deps.state.objects;
    const hash = randomStorePathHash();
    let seen = memo.generation();
    const changed = () => {
      const now = memo.generation();
      const moved = now !== seen;
      seen = now;
      return moved;
    };

    expect((await upload(hash, narOfFile("memo one"))).status).toBe(200);
    expect(changed()).toBe(true);
    expect((await t.request(`/memo/${hash}.narinfo`, { token: t.rootToken })).status).toBe(200);
    expect(changed()).toBe(false);

    const refused = await upload(randomStorePathHash(), narOfFile("memo two"), sha256Hex(Buffer.from("x")));
    expect(refused.status).toBe(400);
    expect(changed()).toBe(false);
    const cacheInfo = await t.request("/memo/nix-cache-info", {
      method: "PUT",
      token: t.rootToken,
      body: "",
    });
    expect(cacheInfo.status).toBe(204);
    expect(changed()).toBe(false);
    const pin = await t.request("/_api/v1/caches/memo/pins/keep", {
      method: "PUT",
      token: t.rootToken,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ store_paths: [`/nix/store/${hash}-memo`] }),
    });
    expect(pin.status, await pin.clone().text()).toBeLessThan(300);
    expect(changed()).toBe(false);

    const deleted = await t.request(`/memo/${hash}.narinfo`, { method: "DELETE", token: t.rootToken });
    expect(deleted.status).toBe(200);
    expect(changed()).toBe(true);
    expect((await t.request(`/memo/${hash}.narinfo`, { token: t.rootToken })).status).toBe(404);

    const reconfigured = await t.request("/_api/v1/cache-config/memo", {
      method: "PATCH",
      token: t.rootToken,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ priority: 30 }),
    });
    expect(reconfigured.status).toBe(200);
    expect(changed()).toBe(true);
  });
});
