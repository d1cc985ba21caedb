/**
 * Cache administration verbs behind `/_api/v1/cache-config/{cache}` (attic `api/v1/cache_config.rs`):
 * read the config, create, configure and destroy. Keys are Nix ed25519 keys stored as the secret
 * string in `cache.keypair`; generated keys are named after the cache.
 */
import {
  type CacheUpstream,
  deleteCache,
  findCache,
  getCacheSettings,
  insertCache,
  setCacheSettings,
  setCacheUpstreams,
  updateCache,
} from "@garret/db";
import { generateSecretKey, NixFormatError, parsePublicKey, parseSecretKey } from "@garret/nix";
import type {
  CacheConfig,
  CacheConfigPatch,
  CreateCacheRequest,
  KeypairConfig,
  RetentionPeriodConfig,
  UpstreamConfig,
} from "@garret/protocol";
import type { AtticToken } from "@garret/token";
import { Secret } from "../config/secret.ts";
import type { Deps } from "../deps.ts";
import type { RequestState } from "../env.ts";
import { AtticError, requestError } from "../errors.ts";
import { audit } from "./audit.ts";
import { authorizeCache, requireTokenPermission } from "./authorize-cache.ts";

/** `api_endpoint`: the configured one, else synthesised from Host and X-Forwarded-Proto (atticd's rule). */
export function apiEndpoint(deps: Deps, req: RequestState): string {
  if (deps.settings.apiEndpoint) return deps.settings.apiEndpoint;
  return `${req.forwardedHttps ? "https" : "http"}://${req.host}/`;
}

export function substituterEndpoint(deps: Deps, req: RequestState, cacheName: string): string {
  const base = deps.settings.substituterEndpoint ?? apiEndpoint(deps, req);
  return `${base}${cacheName}`;
}

export async function getCacheConfig(
  deps: Deps,
  token: AtticToken | null,
  req: RequestState,
  cacheName: string,
): Promise<CacheConfig> {
  const { cache } = await authorizeCache(deps, token, cacheName, ["r"]);
  return {
    substituter_endpoint: substituterEndpoint(deps, req, cache.name),
    api_endpoint: apiEndpoint(deps, req),
    public_key: parseSecretKey(cache.keypair.expose()).publicKey,
    is_public: cache.isPublic,
    store_dir: cache.storeDir,
    priority: cache.priority,
    upstream_cache_key_names: cache.upstreamCacheKeyNames,
    retention_period: cache.retentionPeriod === null ? "Global" : { Period: cache.retentionPeriod },
    garret_closure_retention: (await getCacheSettings(deps.db, cache.id)).closureRetention,
    garret_upstreams: (deps.upstream ? await deps.upstream.upstreamsOf(cache) : []).map((u) => ({
      url: u.url,
      trusted_keys: u.trustedKeys,
    })),
  };
}

/** The wire form of upstreams, with every trusted key checked; null = the server default. */
function upstreamsColumn(upstreams: UpstreamConfig[] | null): CacheUpstream[] | null {
  if (upstreams === null) return null;
  return upstreams.map((u) => {
    for (const key of u.trusted_keys) {
      try {
        parsePublicKey(key);
      } catch (err) {
        if (err instanceof NixFormatError)
          throw requestError(`Invalid trusted key for ${u.url}: ${err.message}`);
        throw err;
      }
    }
    return { url: u.url, trustedKeys: u.trusted_keys };
  });
}

function resolveKeypair(cacheName: string, keypair: KeypairConfig): Secret<string> {
  if (keypair === "Generate") return new Secret(generateSecretKey(cacheName));
  try {
    parseSecretKey(keypair.Keypair);
  } catch (err) {
    if (err instanceof NixFormatError) throw requestError(`Invalid keypair: ${err.message}`);
    throw err;
  }
  return new Secret(keypair.Keypair);
}

function retentionColumn(period: RetentionPeriodConfig): number | null {
  return period === "Global" ? null : period.Period;
}

export async function createCache(
  deps: Deps,
  token: AtticToken | null,
  cacheName: string,
  body: CreateCacheRequest,
): Promise<void> {
  requireTokenPermission(token, cacheName, ["cc"]);
  const keypair = resolveKeypair(cacheName, body.keypair);
  const upstreams = upstreamsColumn(body.garret_upstreams ?? null);
  const inserted = await deps.db.transaction(async (tx) => {
    const created = await insertCache(tx, {
      name: cacheName,
      keypair: keypair.expose(),
      isPublic: body.is_public,
      storeDir: body.store_dir,
      priority: body.priority,
      upstreamCacheKeyNames: body.upstream_cache_key_names,
      retentionPeriod: null,
    });
    const row = created ? await findCache(tx, cacheName) : null;
    // Caches garret creates get closure-aware retention unless asked otherwise (atticd's have none).
    if (row) await setCacheSettings(tx, row.id, { closureRetention: body.garret_closure_retention ?? true });
    if (row && upstreams !== null) await setCacheUpstreams(tx, row.id, upstreams);
    return created;
  });
  deps.state.cacheChanged(cacheName);
  if (!inserted) throw new AtticError("CacheAlreadyExists");
  audit(deps, token, "cache.create", { cache: cacheName, isPublic: body.is_public });
}

export async function configureCache(
  deps: Deps,
  token: AtticToken | null,
  cacheName: string,
  patch: CacheConfigPatch,
): Promise<void> {
  const retention = patch.retention_period !== undefined || patch.garret_closure_retention !== undefined;
  const required = retention ? (["cr", "cq"] as const) : (["cr"] as const);
  const { cache } = await authorizeCache(deps, token, cacheName, required);
  const update: Parameters<typeof updateCache>[2] = {};
  if (patch.keypair !== undefined) update.keypair = resolveKeypair(cacheName, patch.keypair).expose();
  if (patch.is_public !== undefined) update.isPublic = patch.is_public;
  if (patch.store_dir !== undefined) update.storeDir = patch.store_dir;
  if (patch.priority !== undefined) update.priority = patch.priority;
  if (patch.upstream_cache_key_names !== undefined)
    update.upstreamCacheKeyNames = patch.upstream_cache_key_names;
  if (patch.retention_period !== undefined) update.retentionPeriod = retentionColumn(patch.retention_period);
  const closureRetention = patch.garret_closure_retention;
  const upstreams =
    patch.garret_upstreams === undefined ? undefined : upstreamsColumn(patch.garret_upstreams);
  if (Object.keys(update).length === 0 && closureRetention === undefined && upstreams === undefined) {
    throw requestError("No modifiable fields were set.");
  }
  if (Object.keys(update).length > 0) await updateCache(deps.db, cache.id, update);
  if (closureRetention !== undefined) await setCacheSettings(deps.db, cache.id, { closureRetention });
  if (upstreams !== undefined) await setCacheUpstreams(deps.db, cache.id, upstreams);
  deps.state.cacheChanged(cacheName);
  deps.upstream?.invalidate(cache.id);
  audit(deps, token, "cache.configure", { cache: cacheName, fields: Object.keys(patch) });
}

export async function destroyCache(deps: Deps, token: AtticToken | null, cacheName: string): Promise<void> {
  const { cache } = await authorizeCache(deps, token, cacheName, ["cd"]);
  const deleted = await deleteCache(deps.db, cache.id, deps.settings.softDeleteCaches);
  deps.state.cacheChanged(cacheName);
  if (!deleted) throw new AtticError("NoSuchCache", { canDiscover: true });
  audit(deps, token, "cache.destroy", { cache: cacheName, soft: deps.settings.softDeleteCaches });
}
