import type { CacheStats } from "@garret/protocol";
import { afterEach, describe, expect, it } from "vitest";
import {
  loggedInCli,
  sendError,
  sendJson,
  serveJson,
  type TestServer,
} from "../../../../test/support/client-server.ts";
import { main } from "../main.ts";
import { buildPatch, type ConfigureFlags, formatInfo } from "./cache.ts";

const servers: TestServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

const STATS: CacheStats = {
  objects: 1523,
  nar_bytes: 2_147_483_648,
  chunks: 9120,
  stored_bytes: 612_368_384,
  pins: 2,
  closure_retention: true,
  last_gc: {
    started_at: "2026-11-21T10:00:00.000Z",
    finished_at: "2026-11-21T10:00:01.250Z",
    objects: 12,
    nars: 10,
    chunks: 80,
    bytes: 5_242_880,
  },
};

const none: ConfigureFlags = {
  regenerateKeypair: false,
  public: false,
  private: false,
  resetRetentionPeriod: false,
};

describe("cache configure", () => {
  it("sends only the given fields; no retention unless asked (attic#144)", () => {
    expect(buildPatch({ ...none, public: true })).toEqual({ is_public: true });
    expect(buildPatch({ ...none, priority: "30", upstreamKeyNames: [""] })).toEqual({
      priority: 30,
      upstream_cache_key_names: [""],
    });
    expect(buildPatch({ ...none, regenerateKeypair: true })).toEqual({ keypair: "Generate" });
  });
  it("parses retention durations and the reset flag", () => {
    expect(buildPatch({ ...none, retentionPeriod: "1s" })).toEqual({ retention_period: { Period: 1 } });
    expect(buildPatch({ ...none, retentionPeriod: "3 months" })).toEqual({
      retention_period: { Period: 7_890_048 },
    });
    expect(buildPatch({ ...none, resetRetentionPeriod: true })).toEqual({ retention_period: "Global" });
    expect(() => buildPatch({ ...none, retentionPeriod: "10" })).toThrow(/--retention-period/);
  });
  it("sets pull-through upstreams, turns them off, or returns to the server default", () => {
    const key = "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=";
    expect(buildPatch({ ...none, upstreams: ["https://cache.nixos.org"], upstreamKeys: [key] })).toEqual({
      garret_upstreams: [{ url: "https://cache.nixos.org", trusted_keys: [key] }],
    });
    expect(buildPatch({ ...none, noUpstream: true })).toEqual({ garret_upstreams: [] });
    expect(buildPatch({ ...none, defaultUpstream: true })).toEqual({ garret_upstreams: null });
    expect(() => buildPatch({ ...none, upstreams: ["https://cache.nixos.org"] })).toThrow(/--upstream-key/);
    expect(() => buildPatch({ ...none, upstreamKeys: [key] })).toThrow(/needs --upstream/);
    expect(() => buildPatch({ ...none, noUpstream: true, defaultUpstream: true })).toThrow(/together/);
  });
  it("rejects contradictory or empty requests locally", () => {
    expect(() => buildPatch({ ...none, public: true, private: true })).toThrow(/together/);
    expect(() => buildPatch({ ...none, retentionPeriod: "1d", resetRetentionPeriod: true })).toThrow(
      /together/,
    );
    expect(() => buildPatch(none)).toThrow(/nothing to configure/);
  });
});

describe("cache info", () => {
  it("prints attic's fields", () => {
    const text = formatInfo({
      substituter_endpoint: "http://h/c",
      api_endpoint: "http://h/",
      public_key: "c:K=",
      is_public: false,
      store_dir: "/nix/store",
      priority: 41,
      upstream_cache_key_names: ["cache.nixos.org-1"],
      retention_period: { Period: 60 },
    });
    expect(text).toBe(
      [
        "               Public: false",
        "           Public Key: c:K=",
        "Binary Cache Endpoint: http://h/c",
        "         API Endpoint: http://h/",
        "      Store Directory: /nix/store",
        "             Priority: 41",
        '  Upstream Cache Keys: ["cache.nixos.org-1"]',
        "     Retention Period: 60 seconds",
        "",
      ].join("\n"),
    );
    expect(formatInfo({ retention_period: "Global" })).toContain("Retention Period: Global Default");
  });

  it("adds garretd's statistics below attic's fields, aligned with them", () => {
    const text = formatInfo({ is_public: true, retention_period: "Global" }, STATS);
    expect(text.split("\n").slice(0, 1)).toEqual(["               Public: true"]);
    expect(text.split("\n").slice(8)).toEqual([
      "              Objects: 1523",
      "            NAR Bytes: 2.00 GiB (2147483648 bytes)",
      "               Chunks: 9120",
      "         Stored Bytes: 584.0 MiB (612368384 bytes)",
      "          Dedup Ratio: 3.51x",
      "                 Pins: 2",
      "    Closure Retention: true",
      "              Last GC: 2026-11-21T10:00:01.250Z (12 objects, 10 NARs, 80 chunks, 5.0 MiB freed)",
      "",
    ]);
    const empty = formatInfo({}, { ...STATS, objects: 0, nar_bytes: 0, stored_bytes: 0, last_gc: null });
    expect(empty).toContain("NAR Bytes: 0 B\n");
    expect(empty).toContain("Dedup Ratio: n/a\n");
    expect(empty).toContain("Last GC: never\n");
  });
});

describe("garret cache info against a local server", () => {
  async function infoWith(stats: (res: Parameters<typeof sendJson>[0]) => void) {
    const s = await serveJson((req, res) => {
      if (req.url === "/_api/v1/cache-config/demo")
        sendJson(res, 200, { api_endpoint: s.url, is_public: false, retention_period: "Global" });
      else if (req.url === "/_api/v1/caches/demo/stats") stats(res);
      else sendError(res, 404, "NotFound");
    });
    servers.push(s);
    const cli = await loggedInCli(s.url);
    const code = await main(["cache", "info", "demo"], cli.ctx);
    return { code, out: cli.out(), err: cli.err(), seen: s.seen, url: s.url };
  }

  it("prints the statistics garretd answers", async () => {
    const r = await infoWith((res) => sendJson(res, 200, STATS));
    expect(r.code).toBe(0);
    expect(r.seen.map((q) => q.url)).toEqual(["/_api/v1/cache-config/demo", "/_api/v1/caches/demo/stats"]);
    expect(r.out).toContain("  Dedup Ratio: 3.51x\n");
    expect(r.err).toBe("");
  });

  it("prints attic's fields only, silently, when the server is atticd (404 NotFound)", async () => {
    const r = await infoWith((res) =>
      sendError(res, 404, "NotFound", "The URL you requested was not found."),
    );
    expect(r.code).toBe(0);
    expect(r.out).toBe(formatInfo({ api_endpoint: r.url, is_public: false, retention_period: "Global" }));
    expect(r.err).toBe("");
  });

  it("warns but still prints the configuration when the statistics fail otherwise", async () => {
    const malformed = await infoWith((res) => sendJson(res, 200, { objects: "many" }));
    expect(malformed.code).toBe(0);
    expect(malformed.out).toContain("Retention Period: Global Default\n");
    expect(malformed.err).toBe('⚠️  could not read the statistics of "demo": stats: malformed response\n');
    const denied = await infoWith((res) => sendError(res, 403, "AccessError"));
    expect(denied.code).toBe(0);
    expect(denied.err).toMatch(/could not read the statistics of "demo": AccessError: m/);
  });
});
