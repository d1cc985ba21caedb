/**
 * Pull-through behaviour that needs a misbehaving upstream, which nginx cannot play: an in-process
 * HTTP server serves signed narinfos and uncompressed NARs, and can stop sending in the middle of a
 * NAR. garret runs in-process on SQLite (the real-Nix proof against nginx is
 * test/nix/pull-through.test.ts). Shows: a NAR larger than the hold-back is streamed to the first
 * client and stored; a first client that goes away does not stop the fetch; an upstream that stalls
 * mid-NAR gives a 404 within `nar-timeout` and nothing is stored.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fingerprint, formatNarInfo, generateSecretKey, parseSecretKey } from "@garret/nix";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../../../../../test/support/app.ts";
import { lcgBytes, narOfFile, randomStorePathHash, sha256Hex } from "../../../../../test/support/nar.ts";
import { zstdDecompressSync } from "../../../../../test/support/zstd.ts";
import { createPullThrough, DEFAULT_UPSTREAM_POLICY } from "./pull-through.ts";

const key = parseSecretKey(generateSecretKey("fake-upstream-1"));
const NAR_TIMEOUT_MS = 1000;

interface Served {
  nar: Buffer;
  /** Stop sending (but keep the connection) after this many bytes. */
  stallAfter?: number;
  /** Hashes of other served paths this one references. */
  references?: string[];
}

let t: TestApp;
let upstream: Server;
let upstreamUrl: string;
const paths = new Map<string, Served>();
const narRequests = new Map<string, number>();
const narInfoRequests = new Map<string, number>();

function addPath(served: Served): string {
  const hash = randomStorePathHash();
  paths.set(hash, served);
  return hash;
}

beforeAll(async () => {
  upstream = createServer((req, res) => {
    const narinfo = /^\/([0-9a-z]{32})\.narinfo$/.exec(req.url ?? "");
    const narFile = /^\/nar\/([0-9a-z]{32})\.nar$/.exec(req.url ?? "");
    const served = paths.get(narinfo?.[1] ?? narFile?.[1] ?? "");
    if (!served) {
      res.writeHead(404).end();
      return;
    }
    if (narinfo) {
      const hash = narinfo[1] as string;
      narInfoRequests.set(hash, (narInfoRequests.get(hash) ?? 0) + 1);
      const references = (served.references ?? []).map((h) => `${h}-pulled`);
      const storePath = `/nix/store/${hash}-pulled`;
      const narHash = sha256Hex(served.nar);
      const print = fingerprint(storePath, narHash, served.nar.length, references);
      res.writeHead(200, { "content-type": "text/x-nix-narinfo" }).end(
        formatNarInfo({
          storePath,
          url: `nar/${hash}.nar`,
          compression: "none",
          narHash,
          narSize: served.nar.length,
          references,
          sigs: [key.sign(print)],
        }),
      );
      return;
    }
    const hash = narFile?.[1] as string;
    narRequests.set(hash, (narRequests.get(hash) ?? 0) + 1);
    res.writeHead(200, { "content-length": served.nar.length });
    if (served.stallAfter === undefined) res.end(served.nar);
    else res.write(served.nar.subarray(0, served.stallAfter));
  });
  await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;

  t = await createTestApp();
  t.deps.upstream = createPullThrough(t.deps, {
    ...DEFAULT_UPSTREAM_POLICY,
    defaults: [{ url: upstreamUrl, trustedKeys: [key.publicKey] }],
    narInfoTimeoutMs: 1000,
    narTimeoutMs: NAR_TIMEOUT_MS,
  });
  await t.createCache("pull");
});
afterAll(async () => {
  upstream?.closeAllConnections();
  await new Promise<void>((resolve) => upstream?.close(() => resolve()));
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
    expect(narRequests.get(hash)).toBe(1);
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
    expect(narRequests.get(hash)).toBe(1);
  });

  it("looks up the references of a served narinfo upstream before Nix asks for them", async () => {
    const child = addPath({ nar: narOfFile("child") });
    const parent = addPath({ nar: narOfFile("parent"), references: [child] });
    expect((await narinfo(parent)).status).toBe(200);
    expect(await waitFor(async () => narInfoRequests.get(child) === 1, 10_000)).toBe(true);
    // Answered from what was looked up: no second upstream request.
    expect((await narinfo(child)).status).toBe(200);
    expect(narInfoRequests.get(child)).toBe(1);
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
