import { mkdtemp, readFile, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  configPath,
  defaultServerName,
  getServer,
  loadConfig,
  parseCacheRef,
  resolveCacheRef,
  resolveToken,
  saveConfig,
  setServer,
} from "./config.ts";

async function tempConfig(text?: string) {
  const dir = await mkdtemp(join(tmpdir(), "garret-config-"));
  const path = configPath({ XDG_CONFIG_HOME: dir });
  if (text !== undefined) {
    await saveConfig({ path, doc: {} });
    await writeFile(path, text);
  }
  return { dir, path };
}

describe("config file", () => {
  it("lives under XDG_CONFIG_HOME/attic, else ~/.config/attic", () => {
    expect(configPath({ XDG_CONFIG_HOME: "/x" })).toBe("/x/attic/config.toml");
    expect(configPath({ HOME: "/home/u" })).toBe("/home/u/.config/attic/config.toml");
  });

  it("reads attic's format including token-file", async () => {
    const { dir, path } = await tempConfig();
    await writeFile(join(dir, "tok"), "  secret-token\n");
    await saveConfig({ path, doc: {} });
    await writeFile(
      path,
      `default-server = "ci"\n[servers.local]\nendpoint = "http://localhost:8080"\ntoken = "abc"\n` +
        `[servers.ci]\nendpoint = "https://attic.example/"\ntoken-file = "${join(dir, "tok")}"\n`,
    );
    const config = await loadConfig(path);
    expect(defaultServerName(config)).toBe("ci");
    const ci = getServer(config, "ci");
    expect(ci).toEqual({ endpoint: "https://attic.example/", tokenFile: join(dir, "tok") });
    expect(await resolveToken(ci as NonNullable<typeof ci>)).toBe("secret-token");
    expect(await resolveToken({ endpoint: "x", token: "abc" })).toBe("abc");
    expect(await resolveToken({ endpoint: "x" })).toBeUndefined();
  });

  it("writes mode 0600, keeps unknown keys, first login becomes default", async () => {
    const { path } = await tempConfig(
      `future-key = 7\n[servers.old]\nendpoint = "http://o/"\nextra = "kept"\n`,
    );
    const config = await loadConfig(path);
    setServer(config, "new", "http://n/", "tok", false);
    await saveConfig(config);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const again = await loadConfig(path);
    expect(again.doc["future-key"]).toBe(7);
    expect((again.doc.servers as Record<string, Record<string, unknown>>).old?.extra).toBe("kept");
    // two servers and no explicit default: the first one stays the default
    expect(defaultServerName(again)).toBe("old");
    expect(getServer(again, "new")).toEqual({ endpoint: "http://n/", token: "tok" });
  });

  it("re-login without a token keeps the old token; --set-default switches", async () => {
    const { path } = await tempConfig();
    const config = await loadConfig(path);
    setServer(config, "a", "http://a/", "t1", false);
    expect(config.doc["default-server"]).toBe("a");
    setServer(config, "b", "http://b/", undefined, false);
    expect(config.doc["default-server"]).toBe("a");
    setServer(config, "a", "http://a2/", undefined, false);
    expect(getServer(config, "a")).toEqual({ endpoint: "http://a2/", token: "t1" });
    setServer(config, "b", "http://b/", "t2", true);
    expect(config.doc["default-server"]).toBe("b");
    await saveConfig(config);
    expect(await readFile(path, "utf8")).toContain('token = "t2"');
  });

  it("rejects bad server names", async () => {
    const { path } = await tempConfig();
    const config = await loadConfig(path);
    expect(() => setServer(config, "_bad", "http://x/", undefined, false)).toThrow(/invalid server name/);
  });
});

describe("cache references", () => {
  it("parses cache and server:cache", () => {
    expect(parseCacheRef("hello")).toEqual({ cache: "hello" });
    expect(parseCacheRef("prod:team+shared")).toEqual({ server: "prod", cache: "team+shared" });
  });
  it("rejects invalid names", () => {
    expect(() => parseCacheRef("")).toThrow(/invalid cache name/);
    expect(() => parseCacheRef("a:-b")).toThrow(/invalid cache name/);
    expect(() => parseCacheRef(":b")).toThrow(/invalid server name/);
    expect(() => parseCacheRef("a:b:c")).toThrow(/invalid cache name/);
  });
  it("resolves against the default server or fails clearly", async () => {
    const { path } = await tempConfig();
    const config = await loadConfig(path);
    expect(() => resolveCacheRef(config, "c")).toThrow(/garret login/);
    setServer(config, "a", "http://a/", "t", false);
    expect(resolveCacheRef(config, "c")).toMatchObject({ serverName: "a", cache: "c" });
    expect(() => resolveCacheRef(config, "zz:c")).toThrow(/server "zz" is not configured \(known: a\)/);
  });
});
