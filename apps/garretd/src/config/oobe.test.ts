import { createPrivateKey } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTokenAuthority, generateRs256PrivateKeyPem } from "@garret/token";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig, tokenKeyConfig } from "./config.ts";
import { firstStartMessage, runFirstStart, writeDefaultConfig } from "./oobe.ts";

const SMALL_KEY = generateRs256PrivateKeyPem(2048);
const NOW_MS = Date.UTC(2026, 0, 31, 12, 0, 0);

function memoryFs() {
  const files = new Map<string, { contents: string; mode: number }>();
  const dirs = new Set<string>();
  return {
    files,
    dirs,
    writeFile(path: string, contents: string, mode: number) {
      if (files.has(path)) throw new Error(`EEXIST: ${path}`);
      files.set(path, { contents, mode });
    },
    mkdir(path: string) {
      dirs.add(path);
    },
  };
}

describe("writeDefaultConfig", () => {
  const env = { HOME: "/home/u" };

  it("writes a 0600 server.toml that loads as the intended setup", () => {
    const fs = memoryFs();
    const written = writeDefaultConfig({ env, ...fs, generatePrivateKeyPem: () => SMALL_KEY, now: NOW_MS });

    expect(written.path).toBe("/home/u/.config/garret/server.toml");
    expect(fs.files.get(written.path)?.mode).toBe(0o600);
    expect(fs.dirs).toEqual(new Set(["/home/u/.config/garret", "/home/u/.local/share/garret/storage"]));
    expect(written.contents.startsWith("# garret server configuration")).toBe(true);

    const config = loadConfig({
      env,
      readFile: (p) => fs.files.get(p)?.contents ?? "",
      fileExists: (p) => fs.files.has(p),
    });
    expect(config).toMatchObject({
      listen: { host: "::", port: 8080 },
      allowedHosts: [],
      database: {
        kind: "sqlite",
        path: "/home/u/.local/share/garret/server.db",
        mode: "rwc",
        embedded: false,
      },
      storage: { type: "local", path: "/home/u/.local/share/garret/storage" },
      chunking: { narSizeThreshold: 65_536, minSize: 16_384, avgSize: 65_536, maxSize: 262_144 },
      compression: { type: "zstd" },
      garbageCollection: { intervalSeconds: 43_200, defaultRetentionPeriodSeconds: 0 },
      source: written.path,
    });
    expect(config?.jwt.signing.kind).toBe("rs256");
    if (config?.jwt.signing.kind !== "rs256") return;
    const fromFile = createPrivateKey(config.jwt.signing.privateKeyPem.expose());
    expect(fromFile.equals(createPrivateKey(SMALL_KEY))).toBe(true);
  });

  it("describes a root token: sub root, every permission on *, 24 calendar months", () => {
    const written = writeDefaultConfig({
      env,
      ...memoryFs(),
      generatePrivateKeyPem: () => SMALL_KEY,
      now: NOW_MS,
    });
    const in24Months = Date.UTC(2028, 0, 31, 12, 0, 0);
    expect(written.rootToken).toEqual({
      sub: "root",
      validitySeconds: (in24Months - NOW_MS) / 1000,
      caches: [["*", { r: true, w: true, d: true, cc: true, cr: true, cq: true, cd: true }]],
    });
    expect(written.port).toBe(8080);
  });

  it("mints a root token that the written configuration verifies", async () => {
    const fs = memoryFs();
    const written = writeDefaultConfig({ env, ...fs, generatePrivateKeyPem: () => SMALL_KEY });
    const config = loadConfig({
      env,
      readFile: (p) => fs.files.get(p)?.contents ?? "",
      fileExists: (p) => fs.files.has(p),
    });
    if (!config) throw new Error("no config");
    const minter = await createTokenAuthority({ rs256PrivateKeyPem: written.rs256PrivateKeyPem });
    const token = await minter.mint(written.rootToken);
    const server = await createTokenAuthority(tokenKeyConfig(config.jwt.signing));
    const verified = await server.verify(token);
    expect(verified?.sub).toBe("root");
    expect(verified?.getPermission("any-cache-at-all")).toEqual({
      r: true,
      w: true,
      d: true,
      cc: true,
      cr: true,
      cq: true,
      cd: true,
    });
  });

  it("honours XDG_CONFIG_HOME and GARRET_DATA_DIR", () => {
    const fs = memoryFs();
    const written = writeDefaultConfig({
      env: { XDG_CONFIG_HOME: "/cfg", GARRET_DATA_DIR: "/data" },
      ...fs,
      generatePrivateKeyPem: () => SMALL_KEY,
    });
    expect(written.path).toBe("/cfg/garret/server.toml");
    expect(written.contents).toContain('path = "/data/storage"');
  });

  it("fails with directions when there is nowhere to write", () => {
    expect(() =>
      writeDefaultConfig({ env: {}, ...memoryFs(), generatePrivateKeyPem: () => SMALL_KEY }),
    ).toThrow(/set HOME .* or pass -f PATH/);
  });
});

describe("firstStartMessage", () => {
  it("prints atticd's login line and garret's, with the real port", () => {
    const text = firstStartMessage({ path: "/c/server.toml", port: 9000, token: "tok.en.value" });
    expect(text.split("\n")).toEqual(
      expect.arrayContaining([
        "    /c/server.toml",
        "    attic login local http://localhost:9000 tok.en.value",
        "    garret login local http://localhost:9000 tok.en.value",
        "    garret cache create demo",
        "    garret use demo",
      ]),
    );
  });

  it("spells the commands as they work in a new shell when they are not installed", () => {
    const text = firstStartMessage({
      path: "/c/server.toml",
      port: 9000,
      token: "t",
      garret: "/usr/bin/node /src/apps/garret/bin/garret.js",
    });
    expect(text).toContain(
      "    /usr/bin/node /src/apps/garret/bin/garret.js login local http://localhost:9000 t",
    );
    expect(text).toContain("    /usr/bin/node /src/apps/garret/bin/garret.js push demo ./result");
    expect(text).toContain("npm run install-bins");
  });
});

describe("runFirstStart (real file system, 4096-bit key)", () => {
  let dir = "";
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("writes the file, prints a working root token, and refuses to overwrite", async () => {
    dir = mkdtempSync(join(tmpdir(), "garret-oobe-"));
    const env = { HOME: dir };
    const { path, message } = await runFirstStart(env);
    expect(path).toBe(join(dir, ".config", "garret", "server.toml"));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, ".local", "share", "garret", "storage")).isDirectory()).toBe(true);

    const token = /attic login local http:\/\/localhost:8080 (\S+)/.exec(message)?.[1];
    expect(message).toContain(`/apps/garret/bin/garret.js login local http://localhost:8080 ${token}`);
    const config = loadConfig({ env, readFile: (p) => readFileSync(p, "utf8"), fileExists: existsSync });
    if (config?.jwt.signing.kind !== "rs256") throw new Error("expected an RS256 config");
    expect(
      createPrivateKey(config.jwt.signing.privateKeyPem.expose()).asymmetricKeyDetails?.modulusLength,
    ).toBe(4096);
    const verified = await (await createTokenAuthority(tokenKeyConfig(config.jwt.signing))).verify(
      token ?? "",
    );
    expect(verified?.sub).toBe("root");

    const before = readFileSync(path, "utf8");
    await expect(runFirstStart(env)).rejects.toThrow(/EEXIST/);
    expect(readFileSync(path, "utf8")).toBe(before);
  });
});
