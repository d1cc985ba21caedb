/**
 * `garret cache create|configure|info|destroy` (attic `client/src/command/cache.rs`).
 * Unlike attic, `configure` sends `retention_period` only when a retention flag is given, so it does
 * not need the `cq` permission or reset the retention to Global as a side effect (attic#144).
 * `info` adds garretd's statistics (`GET /_api/v1/caches/{cache}/stats`) below attic's fields; atticd
 * answers that route with 404 NotFound, and then only attic's fields are printed.
 */
import { createInterface } from "node:readline";
import { type CacheConfigPatch, type CacheStats, parseDurationSeconds } from "@garret/protocol";
import { ApiError, type CacheConfigResponse } from "../api-client.ts";
import { type CliContext, connect, HintedError, UsageError } from "../context.ts";
import { parsePriority } from "../options.ts";
import { formatBytes } from "../progress.ts";

export interface CreateFlags {
  public: boolean;
  priority?: string;
  upstreamKeyNames?: string[];
  storeDir?: string;
}

export async function cacheCreate(ctx: CliContext, cacheRef: string, flags: CreateFlags): Promise<number> {
  const priority = flags.priority === undefined ? 41 : parsePriority(flags.priority);
  const conn = await connect(ctx, cacheRef);
  await conn.call("create", (c) =>
    c.createCache(conn.cache, {
      keypair: "Generate",
      is_public: flags.public,
      store_dir: flags.storeDir ?? "/nix/store",
      priority,
      upstream_cache_key_names: flags.upstreamKeyNames ?? ["cache.nixos.org-1"],
    }),
  );
  ctx.stderr.write(`✨ Created cache "${conn.cache}" on "${conn.serverName}"\n`);
  return 0;
}

export interface ConfigureFlags {
  regenerateKeypair: boolean;
  public: boolean;
  private: boolean;
  priority?: string;
  upstreamKeyNames?: string[];
  retentionPeriod?: string;
  resetRetentionPeriod: boolean;
  storeDir?: string;
  /** garretd pull-through: upstream cache URLs, each trusting every `upstreamKeys` entry. */
  upstreams?: string[];
  upstreamKeys?: string[];
  /** Pull-through off for this cache. */
  noUpstream?: boolean;
  /** Back to the server's `[garret.upstream]` default. */
  defaultUpstream?: boolean;
}

function upstreamPatch(flags: ConfigureFlags): CacheConfigPatch["garret_upstreams"] {
  const urls = flags.upstreams ?? [];
  const keys = flags.upstreamKeys ?? [];
  const chosen = [urls.length > 0, flags.noUpstream === true, flags.defaultUpstream === true].filter(Boolean);
  if (chosen.length > 1) {
    throw new UsageError("--upstream, --no-upstream and --default-upstream cannot be used together");
  }
  if (keys.length > 0 && urls.length === 0) throw new UsageError("--upstream-key needs --upstream URL");
  if (urls.length > 0 && keys.length === 0) {
    throw new UsageError(
      "--upstream needs at least one --upstream-key NAME:BASE64 (the keys it is trusted for)",
    );
  }
  if (flags.noUpstream) return [];
  if (flags.defaultUpstream) return null;
  if (urls.length === 0) return undefined;
  return urls.map((url) => ({ url, trusted_keys: keys }));
}

export function buildPatch(flags: ConfigureFlags): CacheConfigPatch {
  if (flags.public && flags.private) throw new UsageError("--public and --private cannot be used together");
  if (flags.retentionPeriod !== undefined && flags.resetRetentionPeriod) {
    throw new UsageError("--retention-period and --reset-retention-period cannot be used together");
  }
  const patch: CacheConfigPatch = {};
  if (flags.regenerateKeypair) patch.keypair = "Generate";
  if (flags.public) patch.is_public = true;
  if (flags.private) patch.is_public = false;
  if (flags.priority !== undefined) patch.priority = parsePriority(flags.priority);
  if (flags.upstreamKeyNames !== undefined) patch.upstream_cache_key_names = flags.upstreamKeyNames;
  if (flags.storeDir !== undefined) patch.store_dir = flags.storeDir;
  if (flags.retentionPeriod !== undefined) {
    let seconds: number;
    try {
      seconds = parseDurationSeconds(flags.retentionPeriod);
    } catch (e) {
      throw new UsageError(`--retention-period: ${(e as Error).message}`);
    }
    if (seconds > 2_147_483_647) throw new UsageError("--retention-period is too long");
    patch.retention_period = { Period: seconds };
  }
  if (flags.resetRetentionPeriod) patch.retention_period = "Global";
  const upstreams = upstreamPatch(flags);
  if (upstreams !== undefined) patch.garret_upstreams = upstreams;
  if (Object.keys(patch).length === 0) throw new UsageError("nothing to configure: give at least one option");
  return patch;
}

export async function cacheConfigure(
  ctx: CliContext,
  cacheRef: string,
  flags: ConfigureFlags,
): Promise<number> {
  const patch = buildPatch(flags);
  const conn = await connect(ctx, cacheRef);
  await conn.call(patch.retention_period === undefined ? "configure" : "configure-retention", (c) =>
    c.configureCache(conn.cache, patch),
  );
  ctx.stderr.write(`✅ Configured "${conn.cache}" on "${conn.serverName}"\n`);
  return 0;
}

/** Bytes as `2.00 GiB (2147483648 bytes)`: the exact figure stays greppable. */
function bytes(n: number): string {
  return n < 1024 ? `${n} B` : `${formatBytes(n)} (${n} bytes)`;
}

function statsRows(stats: CacheStats): [string, string][] {
  const gc = stats.last_gc;
  return [
    ["Objects", String(stats.objects)],
    ["NAR Bytes", bytes(stats.nar_bytes)],
    ["Chunks", String(stats.chunks)],
    ["Stored Bytes", bytes(stats.stored_bytes)],
    // NAR bytes per stored byte: compression counts in as well as deduplication.
    ["Dedup Ratio", stats.stored_bytes > 0 ? `${(stats.nar_bytes / stats.stored_bytes).toFixed(2)}x` : "n/a"],
    ["Pins", String(stats.pins)],
    ["Closure Retention", String(stats.closure_retention)],
    [
      "Last GC",
      gc === null
        ? "never"
        : `${gc.finished_at} (${gc.objects} objects, ${gc.nars} NARs, ${gc.chunks} chunks, ${formatBytes(gc.bytes)} freed)`,
    ],
  ];
}

export function formatInfo(config: CacheConfigResponse, stats?: CacheStats): string {
  const retention =
    config.retention_period === undefined || config.retention_period === "Global"
      ? "Global Default"
      : `${config.retention_period.Period} seconds`;
  const rows: [string, string][] = [
    ["Public", String(config.is_public ?? "unknown")],
    ["Public Key", config.public_key ?? "unknown"],
    ["Binary Cache Endpoint", config.substituter_endpoint ?? "unknown"],
    ["API Endpoint", config.api_endpoint ?? "unknown"],
    ["Store Directory", config.store_dir ?? "unknown"],
    ["Priority", String(config.priority ?? "unknown")],
    ["Upstream Cache Keys", JSON.stringify(config.upstream_cache_key_names ?? [])],
    ["Retention Period", retention],
  ];
  if (config.garret_upstreams !== undefined) {
    const list = config.garret_upstreams.map((u) => `${u.url} (${u.trusted_keys.join(", ")})`);
    rows.push(["Upstreams", list.length > 0 ? list.join("; ") : "none"]);
  }
  if (stats) rows.push(...statsRows(stats));
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padStart(width)}: ${v}\n`).join("");
}

export async function cacheInfo(ctx: CliContext, cacheRef: string): Promise<number> {
  const conn = await connect(ctx, cacheRef);
  const config = await conn.call("read", (c) => c.getCacheConfig(conn.cache));
  let stats: CacheStats | undefined;
  try {
    const api = config.api_endpoint ? conn.client.withEndpoint(config.api_endpoint) : conn.client;
    stats = await conn.call("read", () => api.getCacheStats(conn.cache));
  } catch (e) {
    const original = e instanceof HintedError ? e.original : e;
    // Any 404, not just attic's JSON NotFound: a proxy in front of atticd may answer with its own page.
    if (!(original instanceof ApiError && original.status === 404)) {
      ctx.stderr.write(`⚠️  could not read the statistics of "${conn.cache}": ${(e as Error).message}\n`);
    }
  }
  ctx.stdout.write(formatInfo(config, stats));
  return 0;
}

async function prompt(ctx: CliContext, question: string): Promise<string> {
  ctx.stderr.write(question);
  const rl = createInterface({ input: ctx.stdin, terminal: false });
  try {
    for await (const line of rl) return line.trim();
    return "";
  } finally {
    rl.close();
  }
}

export async function cacheDestroy(ctx: CliContext, cacheRef: string, noConfirm: boolean): Promise<number> {
  const conn = await connect(ctx, cacheRef);
  if (!noConfirm) {
    ctx.stderr.write(
      `⚠️  This permanently deletes cache "${conn.cache}" on "${conn.serverName}" and everything in it.\n`,
    );
    const answer = await prompt(ctx, `Type the cache name to confirm: `);
    if (answer !== conn.cache) {
      ctx.stderr.write("Aborted: the name did not match.\n");
      return 1;
    }
  }
  await conn.call("destroy", (c) => c.destroyCache(conn.cache));
  ctx.stderr.write(`🗑️  Destroyed cache "${conn.cache}" on "${conn.serverName}"\n`);
  return 0;
}
