/**
 * Pull-through behaviour that needs a misbehaving upstream, which nginx cannot play: the fake
 * upstream (test/support/fake-upstream.ts) can stop sending in the middle of a NAR. garret runs
 * in-process on SQLite (the real-Nix proof against nginx is test/nix/pull-through.test.ts). Shows: a NAR larger than the hold-back is streamed to the first
 * client and stored; a first client that goes away does not stop the fetch; an upstream that stalls
 * mid-NAR gives a 404 within `nar-timeout` and nothing is stored.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../../../../../test/support/app.ts";
import { type FakeUpstream, startFakeUpstream } from "../../../../../test/support/fake-upstream.ts";
import { lcgBytes, narOfFile } from "../../../../../test/support/nar.ts";
import { zstdDecompressSync } from "../../../../../test/support/zstd.ts";
import { createPullThrough, DEFAULT_UPSTREAM_POLICY } from "./pull-through.ts";

// Also how long the first client may fall behind before it is dropped; the client here shares the
// server's event loop, which on a loaded machine can stall for a second.
const NAR_TIMEOUT_MS = 3000;

let t: TestApp;
let upstream: FakeUpstream;
const addPath: FakeUpstream["addPath"] = (served) => upstream.addPath(served);

beforeAll(async () => {
  upstream = await startFakeUpstream();
  t = await createTestApp();
  t.deps.upstream = createPullThrough(t.deps, {
    ...DEFAULT_UPSTREAM_POLICY,
    defaults: [{ url: upstream.url, trustedKeys: [upstream.publicKey] }],
    narInfoTimeoutMs: 1000,
    narTimeoutMs: NAR_TIMEOUT_MS,
  });
  await t.createCache("pull");
});
afterAll(async () => {
  await upstream?.close();
  await t?.close();
});

const narinfo = (hash: string) => t.request(`/pull/${hash}.narinfo`, { token: t.rootToken });
const nar = (hash: string, signal?: AbortSignal) =>
  t.request(`/pull/nar/${hash}.nar`, { token: t.rootToken, ...(signal && { signal }) });

async function stored(hash: string): Promise<boolean> {
  const res = await t.request("/_api/v1/get-missing-paths", {
    method: "POST",
    token: t.rootToken,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ cache: "pull", store_path_hashes: [hash] }),
  });
  return ((await res.json()) as { missing_paths: string[] }).missing_paths.length === 0;
}

async function waitFor(condition: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await condition()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return condition();
}

describe("pull-through with a misbehaving upstream", () => {
  it("streams a NAR larger than the hold-back to the first client and stores it", async () => {
    const bytes = narOfFile(lcgBytes(5 * 1024 * 1024, 7));
    const hash = addPath({ nar: bytes });
    expect((await narinfo(hash)).status).toBe(200);
    const first = await nar(hash);
    expect(first.status).toBe(200);
    expect(zstdDecompressSync(new Uint8Array(await first.arrayBuffer())).equals(bytes)).toBe(true);
    expect(await waitFor(() => stored(hash), 10_000)).toBe(true);
    const second = await nar(hash);
    expect(zstdDecompressSync(new Uint8Array(await second.arrayBuffer())).equals(bytes)).toBe(true);
    expect(upstream.narRequests.get(hash)).toBe(1);
  });

  it("goes on storing when the first client goes away mid-NAR", async () => {
    const bytes = narOfFile(lcgBytes(6 * 1024 * 1024, 8));
    const hash = addPath({ nar: bytes });
    const abort = new AbortController();
    const first = await nar(hash, abort.signal);
    expect(first.status).toBe(200);
    const reader = first.body?.getReader();
    await reader?.read();
    await reader?.cancel();
    abort.abort();
    expect(await waitFor(() => stored(hash), 60_000)).toBe(true);
    const again = await nar(hash);
    expect(zstdDecompressSync(new Uint8Array(await again.arrayBuffer())).equals(bytes)).toBe(true);
    expect(upstream.narRequests.get(hash)).toBe(1);
  });

  it("looks up the references of a served narinfo upstream before Nix asks for them", async () => {
    const child = addPath({ nar: narOfFile("child") });
    const parent = addPath({ nar: narOfFile("parent"), references: [child] });
    expect((await narinfo(parent)).status).toBe(200);
    expect(await waitFor(async () => upstream.narInfoRequests.get(child) === 1, 10_000)).toBe(true);
    // Answered from what was looked up: no second upstream request.
    expect((await narinfo(child)).status).toBe(200);
    expect(upstream.narInfoRequests.get(child)).toBe(1);
  });

  it("answers 404 within nar-timeout when the upstream stalls mid-NAR, and stores nothing", async () => {
    const bytes = narOfFile(lcgBytes(2 * 1024 * 1024, 9));
    const hash = addPath({ nar: bytes, stallAfter: 512 * 1024 });
    const started = performance.now();
    const res = await nar(hash);
    expect(res.status).toBe(404);
    expect(performance.now() - started).toBeLessThan(NAR_TIMEOUT_MS + 2000);
    expect(await stored(hash)).toBe(false);
    // Remembered: the narinfo is not offered again for a while.
    expect((await narinfo(hash)).status).toBe(404);
  });
});
