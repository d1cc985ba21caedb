/**
 * Wire types of `/_api/v1/cache-config/{cache}` (GET/POST/PATCH) and `/{cache}/attic-cache-info`,
 * with atticd's field names and externally tagged enums (attic `api/v1/cache_config.rs`):
 *
 *   {"substituter_endpoint":"http://localhost:8080/hello","api_endpoint":"http://localhost:8080/",
 *    "public_key":"hello:vlsd7ZHIXNnKXEQShVnd7erE8zcuSKrBWRpV6zTibnA=","is_public":false,
 *    "store_dir":"/nix/store","priority":41,"upstream_cache_key_names":["cache.nixos.org-1"],
 *    "retention_period":"Global"}
 *
 * `keypair` is `"Generate"` or `{"Keypair":"<name>:<base64 of 64 bytes>"}`; `retention_period` is
 * `"Global"` or `{"Period": <seconds>}`.
 *
 * garret extension: `"garret_closure_retention": true` (GET; settable by POST and PATCH) keeps, in
 * GC, whatever a kept object references in the same cache. atticd's client ignores unknown fields.
 *
 * garret extension: `"garret_upstreams": [{"url":"https://cache.nixos.org","trusted_keys":["cache.nixos.org-1:…"]}]`
 * (GET: the upstreams in effect; POST and PATCH set them, `null` returns the cache to the server's
 * `[garret.upstream]` default, `[]` turns pull-through off for it). A narinfo miss is looked up
 * in these binary caches, in order, and served when a trusted key signed it.
 */
import { z } from "zod";
import { plainText } from "../../text.ts";

export const KeypairConfigSchema = z.union([
  z.literal("Generate"),
  z.object({ Keypair: plainText(4096).min(1) }).strict(),
]);
export type KeypairConfig = z.infer<typeof KeypairConfigSchema>;

/** A retention period is a u32 that must also fit an i32 (the DB column is `int`). */
export const RetentionPeriodConfigSchema = z.union([
  z.literal("Global"),
  z.object({ Period: z.number().int().min(0).max(2_147_483_647) }).strict(),
]);
export type RetentionPeriodConfig = z.infer<typeof RetentionPeriodConfigSchema>;

/** `StoreDir:` of nix-cache-info and the parent of every store path: absolute, one line. */
const storeDir = plainText(4096)
  .min(1)
  .refine((s) => s.startsWith("/"), "must be an absolute path");
const priority = z.number().int().min(-2_147_483_648).max(2_147_483_647);
const upstreamKeyNames = z.array(plainText(256)).max(1024);
const closureRetention = z.boolean();

/** One upstream binary cache: its base URL and the public keys (`name:base64`) trusted for it. */
export const UpstreamConfigSchema = z
  .object({
    url: z
      .string()
      .max(2048)
      .refine((u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol), {
        message: "must be an http(s) URL",
      }),
    trusted_keys: z.array(z.string().min(1).max(256)).min(1).max(64),
  })
  .strict();
export type UpstreamConfig = z.infer<typeof UpstreamConfigSchema>;
const upstreams = z.array(UpstreamConfigSchema).max(16);

/** POST body: all five fields are required, as in atticd. */
export const CreateCacheRequestSchema = z.object({
  keypair: KeypairConfigSchema,
  is_public: z.boolean(),
  store_dir: storeDir,
  priority,
  upstream_cache_key_names: upstreamKeyNames,
  /** garret: defaults to true for caches garret creates. */
  garret_closure_retention: closureRetention.optional(),
  /** garret: absent or null = the server's default upstreams. */
  garret_upstreams: upstreams.nullable().optional(),
});
export type CreateCacheRequest = z.infer<typeof CreateCacheRequestSchema>;

/** PATCH body: every field optional; endpoints and public_key are accepted and ignored; unknown keys ignored. */
export const CacheConfigPatchSchema = z.object({
  keypair: KeypairConfigSchema.optional(),
  is_public: z.boolean().optional(),
  store_dir: storeDir.optional(),
  priority: priority.optional(),
  upstream_cache_key_names: upstreamKeyNames.optional(),
  retention_period: RetentionPeriodConfigSchema.optional(),
  garret_closure_retention: closureRetention.optional(),
  garret_upstreams: upstreams.nullable().optional(),
  substituter_endpoint: z.unknown().optional(),
  api_endpoint: z.unknown().optional(),
  public_key: z.unknown().optional(),
});
export type CacheConfigPatch = z.infer<typeof CacheConfigPatchSchema>;

/** GET response (field order as atticd serialises it; `keypair` is never returned). */
export interface CacheConfig {
  substituter_endpoint: string;
  api_endpoint: string;
  public_key: string;
  is_public: boolean;
  store_dir: string;
  priority: number;
  upstream_cache_key_names: string[];
  retention_period: RetentionPeriodConfig;
  /** garret extension; absent from atticd. */
  garret_closure_retention?: boolean;
  /** garret extension: the upstreams in effect (the cache's own, else the server default). */
  garret_upstreams?: UpstreamConfig[];
}

/** What a client may receive: atticd's client treats every field as optional. */
export const CacheConfigResponseSchema = z.object({
  substituter_endpoint: z.string().optional(),
  api_endpoint: z.string().optional(),
  public_key: z.string().optional(),
  is_public: z.boolean().optional(),
  store_dir: z.string().optional(),
  priority: z.number().optional(),
  upstream_cache_key_names: z.array(z.string()).optional(),
  retention_period: RetentionPeriodConfigSchema.optional(),
  garret_closure_retention: closureRetention.optional(),
  garret_upstreams: z.array(UpstreamConfigSchema).optional(),
});
