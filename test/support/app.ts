/**
 * An in-process garretd for app-level tests: the server garretd runs (server.ts: fast paths, then
 * the Hono app, over `assembleDeps`) on a loopback port, over a database of its own (in-memory
 * SQLite, or a fresh Postgres database with `dbKind: "postgres"`) or one the caller passes, and a
 * temporary local storage directory, driven over real HTTP by `request()`.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Db } from "@garret/db";
import { PERMISSION_LETTERS } from "@garret/protocol";
import { createStorage, type StorageBackend } from "@garret/storage";
import { createTokenAuthority, type TokenAuthority } from "@garret/token";
import type { Hono } from "hono";
import { assembleDeps } from "../../apps/garretd/src/build-deps.ts";
import type { Deps } from "../../apps/garretd/src/deps.ts";
import type { AppEnv } from "../../apps/garretd/src/env.ts";
import { silentLogger } from "../../apps/garretd/src/log.ts";
import { createGarretServer, listen } from "../../apps/garretd/src/server.ts";
import { type ServerSettings, testSettings } from "../../apps/garretd/src/settings.ts";
import { grant } from "./grants.ts";
import { httpFetch } from "./http-request.ts";
import { openTestDb, type TestDbKind } from "./postgres.ts";

/** Chunking small enough that a NAR of a few KiB is cut into several chunks. */
export const SMALL_CHUNKING: ServerSettings["chunking"] = {
  narSizeThreshold: 1024,
  minSize: 1024,
  avgSize: 4096,
  maxSize: 16_384,
};

export interface TestApp {
  app: Hono<AppEnv>;
  /** The server's address: the same listener as garretd's (fast paths, then Hono) on a loopback port. */
  url: string;
  deps: Deps;
  db: Db;
  storage: StorageBackend;
  storageDir: string;
  tokens: TokenAuthority;
  rootToken: string;
  mintToken(sub: string, grants: Record<string, string[]>, validitySeconds?: number): Promise<string>;
  request(path: string, init?: RequestInit & { token?: string | null }): Promise<Response>;
  createCache(name: string, opts?: { isPublic?: boolean }): Promise<void>;
  close(): Promise<void>;
}

export async function createTestApp(
  opts: { db?: Db; dbKind?: TestDbKind; settings?: Partial<ServerSettings>; tokens?: TokenAuthority } = {},
): Promise<TestApp> {
  // A database passed in stays open for its owner; one made here is closed (or dropped) with the app.
  const opened = opts.db
    ? { db: opts.db, dispose: async () => {} }
    : await openTestDb(opts.dbKind ?? "sqlite");
  const db = opened.db;
  const storageDir = await mkdtemp(join(tmpdir(), "garret-app-"));
  const storage = await createStorage({ type: "local", path: storageDir });
  const tokens = opts.tokens ?? (await createTokenAuthority({ hs256Secret: randomBytes(32) }));
  const deps = assembleDeps({
    settings: testSettings(opts.settings),
    db,
    storage,
    tokens,
    log: silentLogger(),
    compressionThreads: 1,
    revocationRefreshMs: 60_000,
    cacheTtlMs: 0,
    accessFlushMs: 60_000,
  });
  const server = createGarretServer(deps);
  const listening = await listen(server.listener, { host: "127.0.0.1", port: 0 }, deps.log);
  const base = `http://127.0.0.1:${(listening.address() as AddressInfo).port}`;
  const mintToken = (sub: string, grants: Record<string, string[]>, validitySeconds = 3600) =>
    tokens.mint({
      sub,
      validitySeconds,
      caches: Object.entries(grants).map(([p, l]) => [p, grant(l)]),
    });
  const rootToken = await mintToken("root", { "*": [...PERMISSION_LETTERS] });
  const request = (path: string, init: RequestInit & { token?: string | null } = {}) => {
    const headers = new Headers(init.headers);
    if (!headers.has("host")) headers.set("host", "cache.test");
    if (init.token) headers.set("authorization", `Bearer ${init.token}`);
    const { token: _t, ...rest } = init;
    return httpFetch(`${base}${path}`, { ...rest, headers });
  };
  return {
    app: server.app,
    url: base,
    deps,
    db,
    storage,
    storageDir,
    tokens,
    rootToken,
    mintToken,
    request,
    async createCache(name, o = {}) {
      const res = await request(`/_api/v1/cache-config/${name}`, {
        method: "POST",
        token: rootToken,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          keypair: "Generate",
          is_public: o.isPublic ?? false,
          store_dir: "/nix/store",
          priority: 41,
          upstream_cache_key_names: ["cache.nixos.org-1"],
        }),
      });
      if (res.status !== 200) throw new Error(`create cache ${name}: ${res.status} ${await res.text()}`);
    },
    async close() {
      listening.closeAllConnections();
      await new Promise<void>((resolve) => listening.close(() => resolve()));
      await deps.close();
      await opened.dispose();
      await rm(storageDir, { recursive: true, force: true });
    },
  };
}
