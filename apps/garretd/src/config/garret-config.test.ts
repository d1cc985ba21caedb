import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "./config.ts";

const BASE = `
[storage]
type = "local"
path = "/s"

[jwt.signing]
token-hs256-secret-base64 = "c2VjcmV0"
`;

const parse = (extra: string) => parseConfig(`${BASE}${extra}`, { source: "t.toml", env: { HOME: "/h" } });

function problemsOf(extra: string): readonly string[] {
  try {
    parse(extra);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

describe("[garret] in server.toml", () => {
  it("reads the revocation refresh interval, including sub-second values", () => {
    expect(parse(`[garret.tokens]\nrevocation-refresh-interval = "250ms"\n`).garret.revocationRefreshMs).toBe(
      250,
    );
    expect(parse("").garret).toEqual({
      gcPendingGraceSeconds: 21600,
      storageRequestTimeoutMs: 60_000,
      revocationRefreshMs: 5000,
      metricsRefreshMs: 60_000,
      chunkUploadMaxRequestBytes: 33_554_432,
      requestHeaderTimeoutMs: 30_000,
      requestIdleTimeoutMs: 60_000,
      maxConnections: 1024,
      uploadMemoryBytes: 64 * 1024 * 1024,
      uploadMemoryWaitMs: 20_000,
      oidc: [],
      upstream: {
        defaults: [],
        narInfoTimeoutMs: 3000,
        narTimeoutMs: 20_000,
        negativeTtlMs: 30_000,
        maxConcurrentFetches: 8,
        maxBytesInFlight: 4 * 1024 ** 3,
      },
    });
  });

  it("reads the pull-through upstream default and its limits", () => {
    const key = "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=";
    const g = parse(`
[garret.upstream]
narinfo-timeout = "1500ms"
nar-timeout = "10s"
negative-ttl = "0s"
max-concurrent-fetches = 2
max-bytes-in-flight = 1000000

[[garret.upstream.default]]
url = "https://cache.nixos.org"
trusted-keys = ["${key}"]
`).garret;
    expect(g.upstream).toEqual({
      defaults: [{ url: "https://cache.nixos.org", trustedKeys: [key] }],
      narInfoTimeoutMs: 1500,
      narTimeoutMs: 10_000,
      negativeTtlMs: 0,
      maxConcurrentFetches: 2,
      maxBytesInFlight: 1_000_000,
    });
    const bad = problemsOf(`
[[garret.upstream.default]]
url = "ftp://example.com"
trusted-keys = ["not-a-key"]
`).join("\n");
    expect(bad).toMatch(/url: must be an http\(s\) URL/);
    expect(bad).toMatch(/trusted-keys/);
    expect(problemsOf(`[garret.upstream]\nnarinfo-timeout = "0s"\n`).join("\n")).toMatch(/narinfo-timeout/);
  });

  it("reads the request bounds", () => {
    const g = parse(
      `[garret]\nrequest-header-timeout = "5s"\nrequest-idle-timeout = "1500ms"\nmax-connections = 64\n`,
    ).garret;
    expect([g.requestHeaderTimeoutMs, g.requestIdleTimeoutMs, g.maxConnections]).toEqual([5000, 1500, 64]);
    expect(problemsOf(`[garret]\nmax-connections = 0\n`).join("\n")).toMatch(/max-connections/);
  });

  it("reads the upload memory cap and wait, with defaults", () => {
    const g = parse(`[garret]\nupload-memory = 33554432\nupload-memory-wait = "2s"\n`).garret;
    expect([g.uploadMemoryBytes, g.uploadMemoryWaitMs]).toEqual([33554432, 2000]);
    expect(problemsOf(`[garret]\nupload-memory = 0\n`).join("\n")).toMatch(/upload-memory/);
    expect(problemsOf(`[garret]\nupload-memory-wait = "0s"\n`).join("\n")).toMatch(/upload-memory-wait/);
  });

  it("reads the log level, the metrics listen address and the store-metrics refresh interval", () => {
    const g = parse(
      `[garret]\nlog-level = "warn"\nmetrics-listen = "[::1]:9090"\nmetrics-refresh-interval = "0s"\n`,
    ).garret;
    expect(g.logLevel).toBe("warn");
    expect(g.metricsListen).toEqual({ host: "::1", port: 9090 });
    expect(g.metricsRefreshMs).toBe(0);
    expect(problemsOf(`[garret]\nlog-level = "loud"\n`).join("\n")).toMatch(/log-level/);
    expect(problemsOf(`[garret]\nmetrics-listen = "localhost:9090"\n`).join("\n")).toMatch(
      /metrics-listen: invalid socket address/,
    );
  });

  it("reads the GC grace period for pending uploads and leases", () => {
    expect(parse(`[garret]\ngc-pending-grace = "2s"\n`).garret.gcPendingGraceSeconds).toBe(2);
    expect(parse(`[garret]\nstorage-request-timeout = "1500ms"\n`).garret.storageRequestTimeoutMs).toBe(1500);
    expect(problemsOf(`[garret]\ngc-pending-grace = "soon"\n`).join("\n")).toMatch(/gc-pending-grace/);
  });

  it("reads OIDC trust policies in order, with defaults", () => {
    const config = parse(`
[[garret.oidc]]
name = "github-main"
issuer = "https://token.actions.githubusercontent.com"
jwks-url = "https://token.actions.githubusercontent.com/.well-known/jwks"
audience = "https://cache.example.com"
claims = { repository = "octo-org/*", ref = ["refs/heads/main", "refs/tags/v*"] }
caches = { "octo-*" = ["r", "w"], "public" = ["r"] }
max-validity = "2 hours"

[[garret.oidc]]
issuer = "https://gitlab.example.com"
jwks-file = "/etc/garret/gitlab-jwks.json"
audience = ["garret", "cache"]
claims = { project_path = "group/*" }
caches = { "gl-*" = ["r"] }
`);
    const [github, gitlab] = config.garret.oidc;
    expect(github).toMatchObject({
      name: "github-main",
      issuer: "https://token.actions.githubusercontent.com",
      jwksUrl: "https://token.actions.githubusercontent.com/.well-known/jwks",
      audiences: ["https://cache.example.com"],
      claims: [
        ["repository", ["octo-org/*"]],
        ["ref", ["refs/heads/main", "refs/tags/v*"]],
      ],
      maxValiditySeconds: 7200,
    });
    expect(github?.caches.map(([p, perm]) => [p, perm.r, perm.w, perm.d])).toEqual([
      ["octo-*", true, true, false],
      ["public", true, false, false],
    ]);
    expect(gitlab).toMatchObject({
      name: "oidc-2",
      jwksFile: "/etc/garret/gitlab-jwks.json",
      audiences: ["garret", "cache"],
      maxValiditySeconds: 3600,
    });
  });

  it("rejects unsafe or malformed policies", () => {
    const policy = (lines: string) => `[[garret.oidc]]\nissuer = "https://i"\naudience = "a"\n${lines}\n`;
    expect(problemsOf(policy(`jwks-url = "https://i/jwks"\nclaims = {}\ncaches = { a = ["r"] }`))).toEqual([
      "garret.oidc.0.claims: at least one claim must be matched (e.g. repository)",
    ]);
    expect(problemsOf(policy(`claims = { repository = "o/r" }\ncaches = { a = ["r"] }`))).toEqual([
      "garret.oidc.0: set exactly one of jwks-url and jwks-file",
    ]);
    expect(
      problemsOf(
        policy(`jwks-url = "ftp://i/jwks"\nclaims = { repository = "o/r" }\ncaches = { a = ["x"] }`),
      ),
    ).toEqual([
      "garret.oidc.0.jwks-url: must be an http(s) URL",
      'garret.oidc.0.caches.a.0: expected "r" or "w" or "d" or "cc" or "cr" or "cq" or "cd"',
    ]);
    expect(
      problemsOf(
        policy(`jwks-file = "/j"\nclaims = { repository = "o/r" }\ncaches = { "bad name" = ["r"] }`),
      ),
    ).toEqual(["garret.oidc.0.caches.bad name: not a valid cache name pattern"]);
    expect(problemsOf(`[garret.tokens]\nrevocation-refresh-interval = "soon"\n`)).toHaveLength(1);
  });
});
