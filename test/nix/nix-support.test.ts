/**
 * Proves test/support/nix.ts against real Nix before any garret server is involved: the fixture
 * closure has the expected shape and is reproducible, path info agrees with the NAR bytes, and a
 * plain static binary cache (written by `nix copy --to file://…`, served by node:http) can be
 * pulled with the right key and is refused with a wrong one.
 */
import { randomBytes } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  type BinaryCacheKey,
  buildClosure,
  buildMany,
  closureOf,
  deleteStorePaths,
  describeWithNix,
  dumpNar,
  generateBinaryCacheKey,
  narHashOf,
  nixCopyTo,
  nixEnv,
  nixTempDir,
  normaliseNarHash,
  type PathInfo,
  pullIntoFreshStore,
  queryPathInfo,
  removeTree,
  runNix,
  type StaticServer,
  serveDirectory,
  type TestClosure,
  toNix32,
} from "../support/nix.ts";

const seed = `ns-${randomBytes(4).toString("hex")}`;

describeWithNix("real-Nix test support", () => {
  let closure: TestClosure;
  let infos: Map<string, PathInfo>;
  let key: BinaryCacheKey;
  let cacheDir: string;
  let server: StaticServer;

  beforeAll(async () => {
    closure = await buildClosure({ seed, bigMB: 8 });
    infos = new Map(
      (await queryPathInfo([closure.app, closure.big], { recursive: true })).map((i) => [i.path, i]),
    );
    key = await generateBinaryCacheKey(`garret-test-${seed}`);
    cacheDir = join(await nixTempDir("cache"), "static");
    const pushed = await nixCopyTo({
      cacheUrl: `file://${cacheDir}`,
      paths: [closure.app, closure.big],
      compression: "zstd",
      secretKeyFile: key.secretKeyFile,
    });
    expect(pushed.code, pushed.stderr).toBe(0);
    server = await serveDirectory(cacheDir);
  });

  afterAll(async () => {
    await server?.close();
  });

  it("encodes nix-base32 like Nix and normalises every NAR hash form", () => {
    // sha256("") as printed by `nix hash to-base32 sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=`.
    const empty = Buffer.from("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "hex");
    expect(toNix32(empty)).toBe("0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73");
    const nix32 = "sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73";
    expect(normaliseNarHash("sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")).toBe(nix32);
    expect(normaliseNarHash(`sha256:${empty.toString("hex")}`)).toBe(nix32);
    expect(normaliseNarHash(nix32)).toBe(nix32);
    expect(() => normaliseNarHash("md5:abc")).toThrow(/unrecognised/);
  });

  it("gives every nix call its own empty XDG cache and the test configuration", async () => {
    const a = await nixEnv({ config: { "narinfo-cache-negative-ttl": "0" }, env: { EXTRA: "1" } });
    const b = await nixEnv();
    expect(a.XDG_CACHE_HOME).not.toBe(b.XDG_CACHE_HOME);
    expect(await readdir(a.XDG_CACHE_HOME ?? "")).toEqual([]);
    expect(a.NIX_REMOTE).toBe("local");
    expect(a.EXTRA).toBe("1");
    const config = (a.NIX_CONFIG ?? "").split("\n");
    for (const line of [
      "experimental-features = nix-command",
      "sandbox = false",
      "build-users-group = ",
      "substituters = ",
      "require-sigs = true",
      "narinfo-cache-negative-ttl = 0",
    ]) {
      expect(config).toContain(line);
    }
    expect(b.NIX_CONFIG).not.toContain("narinfo-cache-negative-ttl");
  });

  it("builds the fixture graph with the expected references", () => {
    const refs = (p: string) => infos.get(p)?.references;
    expect(refs(closure.leaf)).toEqual([]);
    expect(refs(closure.lib)).toEqual([closure.leaf]);
    expect(refs(closure.app)).toEqual([closure.leaf, closure.lib].sort());
    expect(refs(closure.big)).toEqual([closure.leaf]);
    for (const info of infos.values()) {
      expect(info.ca).toBeUndefined();
      expect(info.deriver).toMatch(/^\/nix\/store\/[0-9a-z]{32}-garret-test-.*\.drv$/);
      expect(info.signatures).toEqual([]);
    }
    expect(infos.get(closure.big)?.narSize).toBeGreaterThan(8 * 1024 * 1024);
  });

  it("lists closures dependencies first", async () => {
    const order = await closureOf([closure.app, closure.big]);
    expect([...order].sort()).toEqual([closure.leaf, closure.lib, closure.app, closure.big].sort());
    for (const [index, path] of order.entries()) {
      for (const ref of infos.get(path)?.references ?? []) {
        expect(order.indexOf(ref)).toBeLessThan(index);
      }
    }
  });

  it("reports NAR hashes and sizes that match the dumped NAR bytes", async () => {
    for (const path of [closure.leaf, closure.lib, closure.app, closure.big]) {
      const dumped = await narHashOf(dumpNar(path));
      expect(dumped).toEqual({ narHash: infos.get(path)?.narHash, narSize: infos.get(path)?.narSize });
    }
  });

  it("surfaces a failing nix-store --dump as a stream error", async () => {
    const missing = `/nix/store/${"0".repeat(32)}-garret-test-missing`;
    await expect(narHashOf(dumpNar(missing))).rejects.toThrow(/nix-store --dump .* exited with/);
  });

  it("rebuilds the same paths from the same seed, and a variant changes only big, locally", async () => {
    expect(await buildClosure({ seed, bigMB: 8 })).toEqual(closure);
    const variant = await buildClosure({ seed, bigMB: 8, variant: "v2" });
    expect({ ...variant, big: closure.big }).toEqual(closure);
    expect(variant.big).not.toBe(closure.big);

    const plain = await readFile(join(closure.big, "random.bin"));
    const changed = await readFile(join(variant.big, "random.bin"));
    expect(changed.length).toBe(plain.length + 4096);
    const mid = plain.length / 2;
    expect(changed.subarray(0, mid).equals(plain.subarray(0, mid))).toBe(true);
    expect(changed.subarray(mid + 4096).equals(plain.subarray(mid))).toBe(true);
    expect(changed.subarray(mid, mid + 4096).equals(plain.subarray(mid, mid + 4096))).toBe(false);
    await deleteStorePaths([variant.big]);
  });

  it("builds many independent tiny paths and deletes only what is dead", async () => {
    const many = await buildMany({ seed, count: 10 });
    expect(new Set(many).size).toBe(10);
    const manyInfo = await queryPathInfo(many);
    expect(manyInfo.every((i) => i.references.length === 0)).toBe(true);

    await deleteStorePaths([...many, closure.leaf]);
    const check = await runNix("nix-store", ["--check-validity", "--print-invalid", ...many, closure.leaf]);
    // leaf is still referenced by lib, app and big, so it must survive.
    expect(check.stdout.trim().split("\n").sort()).toEqual([...many].sort());
  });

  it("writes a signed static cache with nix copy --to file://", async () => {
    const narinfo = await readFile(join(cacheDir, `${closure.app.slice(11, 43)}.narinfo`), "utf8");
    expect(narinfo).toContain(`StorePath: ${closure.app}\n`);
    expect(narinfo).toContain("Compression: zstd\n");
    expect(narinfo).toContain(`NarHash: ${infos.get(closure.app)?.narHash}\n`);
    expect(narinfo).toMatch(new RegExp(`\\nSig: ${key.name}:[A-Za-z0-9+/]{86}==\\n`));
    expect(key.publicKey).toMatch(new RegExp(`^${key.name}:[A-Za-z0-9+/]{43}=$`));
  });

  it("pulls the closure into a fresh store with nix copy --from and the right key", async () => {
    const before = server.requests.length;
    const r = await pullIntoFreshStore({
      cacheUrl: server.url,
      publicKey: key.publicKey,
      paths: [closure.app, closure.big],
      mode: "copy",
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.verified.sort()).toEqual([closure.leaf, closure.lib, closure.app, closure.big].sort());
    const seen = server.requests.slice(before);
    expect(seen.some((q) => q.method === "HEAD" && q.path.endsWith(".narinfo"))).toBe(true);
    expect(seen.filter((q) => q.method === "GET" && q.path.startsWith("/nar/"))).toHaveLength(4);
    await removeTree(r.storeRoot);
  });

  it("substitutes the closure with nix-store --realise and sends netrc credentials", async () => {
    const before = server.requests.length;
    const r = await pullIntoFreshStore({
      cacheUrl: server.url,
      publicKey: key.publicKey,
      paths: [closure.app],
      token: "tok-123",
      mode: "realise",
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.verified.sort()).toEqual([closure.leaf, closure.lib, closure.app].sort());
    const seen = server.requests.slice(before);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.some((q) => q.method === "HEAD")).toBe(false);
    const basic = `Basic ${Buffer.from(":tok-123").toString("base64")}`;
    expect(seen.every((q) => q.authorization === basic)).toBe(true);
    await removeTree(r.storeRoot);
  });

  it("refuses input-addressed paths signed by a key that is not trusted", async () => {
    const other = await generateBinaryCacheKey(`other-${seed}`);
    const copy = await pullIntoFreshStore({
      cacheUrl: server.url,
      publicKey: other.publicKey,
      paths: [closure.app],
      mode: "copy",
    });
    expect(copy.code).not.toBe(0);
    expect(copy.stderr).toMatch(/lacks a valid signature/);
    expect(copy.verified).toEqual([]);

    const realise = await pullIntoFreshStore({
      cacheUrl: server.url,
      publicKey: other.publicKey,
      paths: [closure.app],
      mode: "realise",
    });
    expect(realise.code).not.toBe(0);
    expect(realise.stderr).toMatch(/is not signed by any of the keys/);
  });

  it("pushes uncompressed NARs when asked", async () => {
    const dir = join(await nixTempDir("cache"), "plain");
    const r = await nixCopyTo({ cacheUrl: `file://${dir}`, paths: [closure.leaf], compression: "none" });
    expect(r.code).toBe(0);
    const narinfo = await readFile(join(dir, `${closure.leaf.slice(11, 43)}.narinfo`), "utf8");
    expect(narinfo).toContain("Compression: none\n");
    expect(narinfo).toContain(`FileHash: ${infos.get(closure.leaf)?.narHash}\n`);
    expect(narinfo).not.toContain("Sig:");
  });
});
