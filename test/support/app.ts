/**
 * An in-process garretd for app-level tests: `createApp(deps)` over an in-memory PGlite (or a
 * fresh Postgres database) and a temporary local storage directory, driven with `app.request()`.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createChunkCompressor } from "@garret/chunking";
import { createDb, type Db, migrate } from "@garret/db";
import { PERMISSION_LETTERS } from "@garret/protocol";
import { createStorage, type StorageBackend } from "@garret/storage";
import { createTokenAuthority, type TokenAuthority } from "@garret/token";
import type { Hono } from "hono";
import { createApp } from "../../apps/garretd/src/app.ts";
import type { Deps } from "../../apps/garretd/src/deps.ts";
import type { AppEnv } from "../../apps/garretd/src/env.ts";
import { silentLogger } from "../../apps/garretd/src/log.ts";
import { createGarretMetrics } from "../../apps/garretd/src/metrics/garret-metrics.ts";
import { instrumentStorage } from "../../apps/garretd/src/metrics/instrument-storage.ts";
import { createAccessRecorder } from "../../apps/garretd/src/services/access-recorder.ts";
import { createCacheDirectory } from "../../apps/garretd/src/services/cache-directory.ts";
import { createObjectMemo } from "../../apps/garretd/src/services/object-memo.ts";
import { createRevocationList } from "../../apps/garretd/src/services/revocations.ts";
import { type ServerSettings, testSettings } from "../../apps/garretd/src/settings.ts";
import { grant } from "./grants.ts";

export interface TestApp {
  app: Hono<AppEnv>;
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
  opts: { db?: Db; settings?: Partial<ServerSettings>; tokens?: TokenAuthority } = {},
): Promise<TestApp> {
  const db = opts.db ?? (await createDb({ kind: "pglite" }));
  if (!opts.db) await migrate(db);
  const storageDir = await mkdtemp(join(tmpdir(), "garret-app-"));
  const storage = await createStorage({ type: "local", path: storageDir });
  const tokens = opts.tokens ?? (await createTokenAuthority({ hs256Secret: randomBytes(32) }));
  const settings = testSettings(opts.settings);
  const compressor = createChunkCompressor({ type: settings.compression.type, threads: 1 });
  const log = silentLogger();
  const metrics = createGarretMetrics();
  const deps: Deps = {
    settings,
    db,
    storage: instrumentStorage(storage, metrics),
    tokens,
    compressor,
    log,
    clock: () => new Date(),
    caches: createCacheDirectory(db, 0),
    objectMemo: createObjectMemo(),
    access: createAccessRecorder(db, log, { intervalMs: 60_000 }),
    revocations: createRevocationList(db, log, { intervalMs: 60_000 }),
    metrics,
  };
  const app = createApp(deps);
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
    return Promise.resolve(app.request(`http://cache.test${path}`, { ...rest, headers }));
  };
  return {
    app,
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
      deps.revocations.close();
      await deps.access.close();
      await compressor.close();
      if (!opts.db) await db.close();
      await rm(storageDir, { recursive: true, force: true });
    },
  };
}
