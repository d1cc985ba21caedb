import { describe, expect, it } from "vitest";
import { buildPatch, type ConfigureFlags, formatInfo } from "./cache.ts";

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
});
