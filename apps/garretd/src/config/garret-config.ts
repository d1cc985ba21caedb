/**
 * The `[garret]` section of server.toml: settings for garret's extensions that atticd does not
 * have. atticd rejects unknown top-level keys, so a file with this section only loads in garret.
 *
 *     [garret]
 *     gc-pending-grace = "6 hours"           # uploads are assumed to finish within this; GC then
 *                                            # reaps their pending rows and resets their leases
 *     storage-request-timeout = "60s"        # one S3 request (connect at most 10 s of it); a dead
 *                                            # bucket fails requests with 503 after this long
 *     log-level = "info"                     # debug | info | warn | error (--log-level and $GARRET_LOG win)
 *     metrics-listen = "127.0.0.1:9090"      # serve /metrics (and /healthz, /readyz) here, not on `listen`
 *     metrics-refresh-interval = "60s"       # how often the garret_store_* gauges are recomputed
 *     chunk-upload-max-request-bytes = 33554432  # body limit of one chunk-upload API request
 *     request-header-timeout = "30s"         # a request's headers must arrive within this
 *     request-idle-timeout = "60s"           # a connection with no byte in or out for this long is cut
 *                                            # (a stalled upload body, a client that stopped reading)
 *     max-connections = 1024                 # connections over this are refused at accept
 *     upload-memory = 67108864               # cap on the NAR segments and compressed chunks uploads
 *                                            # hold, bytes (~3.8 MiB per upload being chunked)
 *     upload-memory-wait = "20s"             # an upload waits this long for its share, then gets a 503
 *
 *     [garret.tokens]
 *     revocation-refresh-interval = "5s"    # how often each replica reloads revocations
 *
 *     [garret.upstream]                      # pull-through (services/upstream/); off unless configured
 *     narinfo-timeout = "3s"                 # an upstream narinfo lookup; then the miss is a 404
 *     nar-timeout = "20s"                    # no NAR bytes from upstream for this long: fetch fails
 *     negative-ttl = "30s"                   # how long "not upstream" (or "upstream failing") is remembered
 *     max-concurrent-fetches = 8             # upstream NAR downloads at once (more wait their turn)
 *     max-bytes-in-flight = 4294967296       # sum of NarSize over those downloads
 *     [[garret.upstream.default]]            # caches without upstreams of their own use these
 *     url = "https://cache.nixos.org"
 *     trusted-keys = ["cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="]
 *
 *     [[garret.oidc]]                        # one trust policy per table, tried in order
 *     name = "github-main"
 *     issuer = "https://token.actions.githubusercontent.com"
 *     jwks-url = "https://token.actions.githubusercontent.com/.well-known/jwks"
 *     audience = "https://cache.example.com"
 *     claims = { repository = "octo-org/*", ref = ["refs/heads/main", "refs/tags/v*"] }
 *     caches = { "octo-*" = ["r", "w"] }
 *     max-validity = "1 hour"
 */
import {
  DurationError,
  emptyPermission,
  isValidCachePattern,
  PERMISSION_LETTERS,
  type Permission,
  parseDuration,
} from "@garret/protocol";
import { z } from "zod";
import { type ListenAddress, parseListen } from "./listen.ts";

export interface OidcPolicy {
  name: string;
  issuer: string;
  /** Exactly one of jwksUrl and jwksFile is set. */
  jwksUrl?: string;
  jwksFile?: string;
  audiences: string[];
  /** Claim name → glob patterns, any of which may match (`*` matches any run of characters). */
  claims: Array<[claim: string, patterns: string[]]>;
  caches: Array<[pattern: string, permission: Permission]>;
  maxValiditySeconds: number;
}

export interface UpstreamEndpoint {
  url: string;
  trustedKeys: string[];
}

export interface UpstreamPolicy {
  /** Upstreams of caches that have none of their own; empty = pull-through off for them. */
  defaults: UpstreamEndpoint[];
  narInfoTimeoutMs: number;
  narTimeoutMs: number;
  negativeTtlMs: number;
  maxConcurrentFetches: number;
  maxBytesInFlight: number;
}

export interface GarretConfig {
  upstream: UpstreamPolicy;
  revocationRefreshMs: number;
  /** Seconds after which GC treats pending rows and upload leases as left by a dead upload. */
  gcPendingGraceSeconds: number;
  /** Milliseconds one S3 request may take before it fails. */
  storageRequestTimeoutMs: number;
  oidc: OidcPolicy[];
  /** Unset: `--log-level`, `$GARRET_LOG` or `$ATTICD_LOG` decide, else info. */
  logLevel?: "debug" | "info" | "warn" | "error";
  /** Unset: `/metrics` is served on the main listener. */
  metricsListen?: ListenAddress;
  /** 0 disables the periodic refresh of the store gauges. */
  metricsRefreshMs: number;
  /** Largest body of one request of the chunk-upload API (docs/chunk-upload.md). */
  chunkUploadMaxRequestBytes: number;
  /** Milliseconds a request's headers may take to arrive. */
  requestHeaderTimeoutMs: number;
  /** Milliseconds a connection may go without a byte read or written (a stalled body). */
  requestIdleTimeoutMs: number;
  /** Open connections per listener; more are refused at accept. */
  maxConnections: number;
  /** Cap on the memory uploads are chunked and compressed in (services/ingest-memory.ts). */
  uploadMemoryBytes: number;
  /** Milliseconds an upload waits for that memory before it is refused with a 503. */
  uploadMemoryWaitMs: number;
}

export const GARRET_DEFAULTS = {
  revocationRefreshMs: 5000,
  oidcMaxValiditySeconds: 3600,
  gcPendingGraceSeconds: 6 * 3600,
  storageRequestTimeoutMs: 60_000,
  metricsRefreshMs: 60_000,
  upstream: {
    narInfoTimeoutMs: 3000,
    narTimeoutMs: 20_000,
    negativeTtlMs: 30_000,
    maxConcurrentFetches: 8,
    maxBytesInFlight: 4 * 1024 ** 3,
  },
  chunkUploadMaxRequestBytes: 32 * 1024 * 1024,
  requestHeaderTimeoutMs: 30_000,
  requestIdleTimeoutMs: 60_000,
  maxConnections: 1024,
  uploadMemoryBytes: 64 * 1024 * 1024,
  uploadMemoryWaitMs: 20_000,
} as const;

const duration = z.string().transform((text, ctx) => {
  try {
    return parseDuration(text);
  } catch (e) {
    if (!(e instanceof DurationError)) throw e;
    ctx.addIssue({ code: "custom", message: `${e.message} (e.g. "5s", "500ms", "1 hour")` });
    return z.NEVER;
  }
});

const stringOrList = z
  .union([z.string(), z.array(z.string()).min(1)])
  .transform((v) => (Array.isArray(v) ? v : [v]));

const letters = z.array(z.enum(PERMISSION_LETTERS)).min(1);

const oidcPolicy = z
  .strictObject({
    name: z.string().min(1).optional(),
    issuer: z.string().min(1),
    "jwks-url": z
      .string()
      .refine((u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol), {
        message: "must be an http(s) URL",
      })
      .optional(),
    "jwks-file": z.string().min(1).optional(),
    audience: stringOrList,
    claims: z.record(z.string().min(1), stringOrList),
    caches: z.record(z.string(), letters),
    "max-validity": duration.optional(),
  })
  .superRefine((p, ctx) => {
    if ((p["jwks-url"] === undefined) === (p["jwks-file"] === undefined)) {
      ctx.addIssue({ code: "custom", message: "set exactly one of jwks-url and jwks-file" });
    }
    // The issuer alone proves little: GitHub signs tokens for every repository in the world.
    if (Object.keys(p.claims).length === 0) {
      ctx.addIssue({
        code: "custom",
        path: ["claims"],
        message: "at least one claim must be matched (e.g. repository)",
      });
    }
    for (const pattern of Object.keys(p.caches)) {
      if (!isValidCachePattern(pattern)) {
        ctx.addIssue({
          code: "custom",
          path: ["caches", pattern],
          message: "not a valid cache name pattern",
        });
      }
    }
    if (p["max-validity"] !== undefined && p["max-validity"] < 1) {
      ctx.addIssue({ code: "custom", path: ["max-validity"], message: "must be at least 1 second" });
    }
  });

const listenAddress = z.string().transform((text, ctx) => {
  try {
    return parseListen(text);
  } catch (e) {
    ctx.addIssue({ code: "custom", message: (e as Error).message });
    return z.NEVER;
  }
});

const publicKeyText = z
  .string()
  .regex(/^[^:\s]+:[A-Za-z0-9+/]{43}=$/, "must be a Nix public key name:base64");

const upstreamEndpoint = z.strictObject({
  url: z.string().refine((u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol), {
    message: "must be an http(s) URL",
  }),
  "trusted-keys": z.array(publicKeyText).min(1),
});

const positiveDuration = duration.refine((s) => s > 0, { message: "must be more than 0" });

const upstreamSection = z.strictObject({
  default: z.array(upstreamEndpoint).optional(),
  "narinfo-timeout": positiveDuration.optional(),
  "nar-timeout": positiveDuration.optional(),
  "negative-ttl": duration.optional(),
  "max-concurrent-fetches": z.number().int().min(1).max(1024).optional(),
  "max-bytes-in-flight": z.number().int().min(1).optional(),
});

export const garretTomlSchema = z.strictObject({
  upstream: upstreamSection.optional(),
  "log-level": z.enum(["debug", "info", "warn", "error"]).optional(),
  "metrics-listen": listenAddress.optional(),
  "metrics-refresh-interval": duration.optional(),
  "gc-pending-grace": duration.optional(),
  "storage-request-timeout": duration.optional(),
  // The extension is offered only when one largest chunk plus its frame header fits.
  "chunk-upload-max-request-bytes": z
    .number()
    .int()
    .min(1024 * 1024)
    .max(1024 * 1024 * 1024)
    .optional(),
  "request-header-timeout": duration.optional(),
  "request-idle-timeout": duration.optional(),
  "max-connections": z.number().int().min(1).optional(),
  "upload-memory": z.number().int().min(1).optional(),
  "upload-memory-wait": positiveDuration.optional(),
  tokens: z.strictObject({ "revocation-refresh-interval": duration.optional() }).optional(),
  oidc: z.array(oidcPolicy).optional(),
});

export type GarretToml = z.output<typeof garretTomlSchema>;

export function resolveGarretConfig(toml: GarretToml | undefined): GarretConfig {
  const refresh = toml?.tokens?.["revocation-refresh-interval"];
  const grace = toml?.["gc-pending-grace"];
  const metricsRefresh = toml?.["metrics-refresh-interval"];
  const up = toml?.upstream;
  const ms = (seconds: number | undefined, fallback: number) =>
    seconds === undefined ? fallback : Math.max(1, Math.round(seconds * 1000));
  const defaults = GARRET_DEFAULTS.upstream;
  return {
    upstream: {
      defaults: (up?.default ?? []).map((u) => ({ url: u.url, trustedKeys: u["trusted-keys"] })),
      narInfoTimeoutMs: ms(up?.["narinfo-timeout"], defaults.narInfoTimeoutMs),
      narTimeoutMs: ms(up?.["nar-timeout"], defaults.narTimeoutMs),
      negativeTtlMs:
        up?.["negative-ttl"] === undefined ? defaults.negativeTtlMs : Math.round(up["negative-ttl"] * 1000),
      maxConcurrentFetches: up?.["max-concurrent-fetches"] ?? defaults.maxConcurrentFetches,
      maxBytesInFlight: up?.["max-bytes-in-flight"] ?? defaults.maxBytesInFlight,
    },
    ...(toml?.["log-level"] !== undefined && { logLevel: toml["log-level"] }),
    ...(toml?.["metrics-listen"] !== undefined && { metricsListen: toml["metrics-listen"] }),
    metricsRefreshMs:
      metricsRefresh === undefined ? GARRET_DEFAULTS.metricsRefreshMs : Math.round(metricsRefresh * 1000),
    chunkUploadMaxRequestBytes:
      toml?.["chunk-upload-max-request-bytes"] ?? GARRET_DEFAULTS.chunkUploadMaxRequestBytes,
    gcPendingGraceSeconds: grace === undefined ? GARRET_DEFAULTS.gcPendingGraceSeconds : grace,
    storageRequestTimeoutMs: Math.max(
      1,
      Math.round(
        (toml?.["storage-request-timeout"] ?? GARRET_DEFAULTS.storageRequestTimeoutMs / 1000) * 1000,
      ),
    ),
    requestHeaderTimeoutMs: positiveMs(
      toml?.["request-header-timeout"],
      GARRET_DEFAULTS.requestHeaderTimeoutMs,
    ),
    requestIdleTimeoutMs: positiveMs(toml?.["request-idle-timeout"], GARRET_DEFAULTS.requestIdleTimeoutMs),
    maxConnections: toml?.["max-connections"] ?? GARRET_DEFAULTS.maxConnections,
    uploadMemoryBytes: toml?.["upload-memory"] ?? GARRET_DEFAULTS.uploadMemoryBytes,
    uploadMemoryWaitMs: positiveMs(toml?.["upload-memory-wait"], GARRET_DEFAULTS.uploadMemoryWaitMs),
    revocationRefreshMs:
      refresh === undefined ? GARRET_DEFAULTS.revocationRefreshMs : Math.round(refresh * 1000),
    oidc: (toml?.oidc ?? []).map((p, i) => ({
      name: p.name ?? `oidc-${i + 1}`,
      issuer: p.issuer,
      ...(p["jwks-url"] !== undefined && { jwksUrl: p["jwks-url"] }),
      ...(p["jwks-file"] !== undefined && { jwksFile: p["jwks-file"] }),
      audiences: p.audience,
      claims: Object.entries(p.claims),
      caches: Object.entries(p.caches).map(([pattern, list]) => {
        const permission = emptyPermission();
        for (const letter of list) permission[letter] = true;
        return [pattern, permission];
      }),
      maxValiditySeconds: Math.floor(p["max-validity"] ?? GARRET_DEFAULTS.oidcMaxValiditySeconds),
    })),
  };
}

/** A duration in seconds (or the default in milliseconds) as milliseconds, at least 1. */
function positiveMs(seconds: number | undefined, defaultMs: number): number {
  return seconds === undefined ? defaultMs : Math.max(1, Math.round(seconds * 1000));
}
