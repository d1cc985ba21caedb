/**
 * Drives the real Nix client (Debian's nix-bin, Nix 2.8, single-user as root, no daemon) for the
 * Nix test tier: builds the fixture closure, reads path info and NARs from the local store, pushes
 * with `nix copy --to`, and pulls into throwaway chroot stores with signatures required.
 *
 * Rules every call follows, because Nix 2.8 misbehaves for tests otherwise:
 * - Configuration travels in NIX_CONFIG (builds as root without a sandbox, no default substituter,
 *   signatures required) and NIX_REMOTE=local; the host's nix.conf is only read underneath it.
 * - Each invocation gets its own fresh XDG_CACHE_HOME. Nix keeps narinfo hits, misses and
 *   nix-cache-info in `binary-cache-v6.sqlite` there, and a warm cache makes it skip requests.
 * - Credentials go through a netrc file with no login, which Nix turns into pre-emptive
 *   `Authorization: Basic base64(":TOKEN")` — the only way stock Nix 2.8 authenticates to a cache.
 * - Processes are spawned with argument vectors, never through a shell.
 * - Failed nix commands are returned as `{ code, stdout, stderr }` so tests can assert on them;
 *   only helpers whose failure means the environment is broken (builds, path info) throw.
 */
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { chmod, lstat, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, normalize, sep } from "node:path";
import { PassThrough, type Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

/** The Nix expression every builder in this module evaluates. */
export const closureFixture: string = fileURLToPath(new URL("../fixtures/closure.nix", import.meta.url));

const BASE_CONFIG: Readonly<Record<string, string>> = {
  "experimental-features": "nix-command",
  sandbox: "false",
  "build-users-group": "",
  substituters: "",
  "require-sigs": "true",
  "connect-timeout": "10",
  // The default (300 s) turns a server's 5xx on a PUT into a five-minute hang inside curl.
  "stalled-download-timeout": "30",
  "netrc-file": "/dev/null",
};

const DEFAULT_TIMEOUT_MS = 180_000;

export interface NixRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface TestClosure {
  leaf: string;
  lib: string;
  app: string;
  big: string;
}

export interface PathInfo {
  path: string;
  /** Always `sha256:<nix-base32>`, the form narinfo files and signature fingerprints use. */
  narHash: string;
  narSize: number;
  /** Full store paths, sorted. */
  references: string[];
  deriver?: string;
  signatures: string[];
  ca?: string;
}

export interface NixEnvOptions {
  /** Extra or overriding NIX_CONFIG settings. */
  config?: Readonly<Record<string, string>>;
  /** Extra environment variables. */
  env?: Readonly<Record<string, string>>;
}

export interface BinaryCacheKey {
  name: string;
  secretKeyFile: string;
  /** `name:base64(64 bytes)`, exactly as Nix writes it. */
  secretKey: string;
  publicKeyFile: string;
  /** `name:base64(32 bytes)`, the value for `trusted-public-keys`. */
  publicKey: string;
}

export interface PullResult extends NixRun {
  /** Root of the chroot store (`local?root=<storeRoot>`); removed by cleanupNixTemp(). */
  storeRoot: string;
  /** Paths whose NAR hash in the chroot store was compared with the local store and matched. */
  verified: string[];
}

export interface StaticServer {
  /** `http://127.0.0.1:<port>` with no trailing slash. */
  url: string;
  /** Every request seen, in arrival order. */
  requests: Array<{ method: string; path: string; status: number; authorization?: string }>;
  close(): Promise<void>;
}

let availability: boolean | undefined;

/** Whether `nix` and `nix-store` can be run. Synchronous because suites are declared synchronously. */
export function nixAvailable(): boolean {
  if (availability === undefined) {
    availability = ["nix", "nix-store"].every(
      (cmd) => spawnSync(cmd, ["--version"], { stdio: "ignore", timeout: 10_000 }).status === 0,
    );
  }
  return availability;
}

/** CI sets GARRET_TEST_NIX=1 so that a missing Nix fails the run instead of skipping the tier. */
export function nixRequired(): boolean {
  return process.env.GARRET_TEST_NIX === "1";
}

/**
 * Declares a suite that needs real Nix. Without Nix it registers a single skipped test whose title
 * says why, unless GARRET_TEST_NIX=1, in which case it registers a failing one. Temporary
 * directories made by this module are removed after the suite.
 */
export function describeWithNix(name: string, fn: () => void): void {
  if (nixAvailable()) {
    describe(name, () => {
      afterAll(cleanupNixTemp);
      fn();
    });
    return;
  }
  if (nixRequired()) {
    describe(name, () => {
      it("has nix and nix-store on PATH (required by GARRET_TEST_NIX=1)", () => {
        throw new Error(
          "GARRET_TEST_NIX=1 but `nix --version` / `nix-store --version` failed; run .ci/install-nix.sh",
        );
      });
    });
    return;
  }
  describe.skipIf(true)(
    `${name} — SKIPPED: Nix is not installed (run .ci/install-nix.sh; GARRET_TEST_NIX=1 makes this fail)`,
    () => {
      it("needs nix and nix-store on PATH", () => {
        expect(nixAvailable()).toBe(true);
      });
    },
  );
}

const tempDirs = new Set<string>();

/** A new temporary directory, removed (read-only store paths included) by cleanupNixTemp(). */
export async function nixTempDir(label: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `garret-nix-${label}-`));
  tempDirs.add(dir);
  return dir;
}

/** Removes a tree even when Nix left read-only directories in it (store paths are 0555). */
export async function removeTree(dir: string): Promise<void> {
  await makeWritable(dir);
  await rm(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

async function makeWritable(dir: string): Promise<void> {
  let info: Awaited<ReturnType<typeof lstat>>;
  try {
    info = await lstat(dir);
  } catch {
    return;
  }
  if (!info.isDirectory()) return;
  if ((info.mode & 0o200) === 0) await chmod(dir, info.mode | 0o700);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) await makeWritable(join(dir, entry.name));
  }
}

/** Removes every temporary directory this module made (chroot stores, keys, netrc files, caches). */
export async function cleanupNixTemp(): Promise<void> {
  for (const dir of [...tempDirs]) await removeTree(dir);
}

function configText(config: Readonly<Record<string, string>>): string {
  return Object.entries(config)
    .map(([key, value]) => `${key} = ${value}`)
    .join("\n");
}

function buildEnv(xdgCacheHome: string, extra: NixEnvOptions = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    // Inherited NIX_* settings (NIX_PATH, NIX_SSL_CERT_FILE, a daemon NIX_REMOTE) would make runs
    // depend on the developer's shell.
    if (!key.startsWith("NIX_")) env[key] = value;
  }
  return {
    ...env,
    NIX_REMOTE: "local",
    NIX_CONFIG: configText({ ...BASE_CONFIG, ...extra.config }),
    XDG_CACHE_HOME: xdgCacheHome,
    ...extra.env,
  };
}

/**
 * Environment for one nix invocation, with a new empty XDG_CACHE_HOME. Use a new one per call;
 * the directory is removed by cleanupNixTemp().
 */
export async function nixEnv(extra?: NixEnvOptions): Promise<NodeJS.ProcessEnv> {
  return buildEnv(await nixTempDir("xdg"), extra);
}

interface RunOptions extends NixEnvOptions {
  timeoutMs?: number;
}

/** Runs one nix command with a private XDG cache that is deleted afterwards. Never throws on exit codes. */
export async function runNix(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<NixRun> {
  const xdg = await nixTempDir("xdg");
  try {
    return await collect(command, args, buildEnv(xdg, options), options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  } finally {
    await removeTree(xdg);
  }
}

function collect(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<NixRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      let stderr = Buffer.concat(err).toString("utf8");
      if (timedOut) stderr += `\n[test support] ${command} killed after ${timeoutMs} ms`;
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString("utf8"),
        stderr,
      });
    });
  });
}

async function runNixOk(command: string, args: readonly string[], options?: RunOptions): Promise<string> {
  const r = await runNix(command, args, options);
  if (r.code !== 0) {
    throw new Error(`${command} ${args.join(" ")} exited with ${r.code}:\n${r.stderr}`);
  }
  return r.stdout;
}

function lines(text: string): string[] {
  return text.split("\n").filter((l) => l.length > 0);
}

/**
 * Builds leaf, lib, app and big from test/fixtures/closure.nix. Same arguments, same store paths
 * and contents; a non-empty `variant` yields a different big whose content differs only locally.
 * lib, app and leaf depend on `seed` alone.
 */
export async function buildClosure(opts: {
  seed: string;
  bigMB: number;
  variant?: string;
}): Promise<TestClosure> {
  const args = [
    closureFixture,
    "--no-out-link",
    "--argstr",
    "seed",
    opts.seed,
    "--arg",
    "bigMB",
    String(opts.bigMB),
  ];
  if (opts.variant !== undefined) args.push("--argstr", "variant", opts.variant);
  args.push("-A", "leaf", "-A", "lib", "-A", "app", "-A", "big");
  const [leaf, lib, app, big] = lines(await runNixOk("nix-build", args));
  if (!leaf || !lib || !app || !big) throw new Error("nix-build printed fewer than 4 store paths");
  return { leaf, lib, app, big };
}

/** Builds `count` tiny store paths with no references (`many` in closure.nix). */
export async function buildMany(opts: { seed: string; count: number }): Promise<string[]> {
  const out = await runNixOk("nix-build", [
    closureFixture,
    "--no-out-link",
    "--argstr",
    "seed",
    opts.seed,
    "--arg",
    "count",
    String(opts.count),
    "-A",
    "many",
  ]);
  const paths = lines(out);
  if (paths.length !== opts.count)
    throw new Error(`expected ${opts.count} paths, nix-build printed ${paths.length}`);
  return paths;
}

const NIX32_ALPHABET = "0123456789abcdfghijklmnpqrsvwxyz";

/** Nix's base32 (least significant bits first, reversed digit order), as in libutil/hash.cc. */
export function toNix32(bytes: Uint8Array): string {
  const len = Math.ceil((bytes.length * 8) / 5);
  let s = "";
  for (let n = len - 1; n >= 0; n--) {
    const b = n * 5;
    const i = b >> 3;
    const j = b & 7;
    const c = ((bytes[i] ?? 0) >> j) | ((bytes[i + 1] ?? 0) << (8 - j));
    s += NIX32_ALPHABET[c & 0x1f];
  }
  return s;
}

/** Normalises `sha256-<base64>` (what path-info --json prints) and `sha256:<hex>` to `sha256:<nix32>`. */
export function normaliseNarHash(hash: string): string {
  if (hash.startsWith("sha256-")) return `sha256:${toNix32(Buffer.from(hash.slice(7), "base64"))}`;
  if (/^sha256:[0-9a-f]{64}$/.test(hash)) return `sha256:${toNix32(Buffer.from(hash.slice(7), "hex"))}`;
  if (/^sha256:[0-9a-df-np-sv-z]{52}$/.test(hash)) return hash;
  throw new Error(`unrecognised NAR hash ${hash}`);
}

interface RawPathInfo {
  path: string;
  valid?: boolean;
  narHash?: string;
  narSize?: number;
  references?: string[];
  deriver?: string;
  signatures?: string[];
  ca?: unknown;
}

function isRawPathInfo(v: unknown): v is RawPathInfo {
  return typeof v === "object" && v !== null && typeof (v as { path?: unknown }).path === "string";
}

/**
 * `nix path-info --json` for paths in the local store, or in `store` (a chroot store or a cache
 * URL). Throws if any path is not valid there.
 */
export async function queryPathInfo(
  paths: readonly string[],
  opts: { recursive?: boolean; store?: string } = {},
): Promise<PathInfo[]> {
  const args = ["path-info", "--json"];
  if (opts.recursive) args.push("--recursive");
  if (opts.store) args.push("--store", opts.store);
  const parsed: unknown = JSON.parse(await runNixOk("nix", [...args, ...paths]));
  // Nix 2.8 prints an array of objects with a "path" key; Nix >= 2.19 an object keyed by path.
  const entries: unknown[] = Array.isArray(parsed)
    ? parsed
    : typeof parsed === "object" && parsed !== null
      ? Object.entries(parsed).map(([path, v]: [string, unknown]) => ({ ...(v ?? { valid: false }), path }))
      : [];
  return entries.map((entry: unknown): PathInfo => {
    if (!isRawPathInfo(entry)) throw new Error(`unexpected path-info entry ${JSON.stringify(entry)}`);
    if (entry.valid === false || entry.narHash === undefined || entry.narSize === undefined) {
      throw new Error(`${entry.path} is not valid in ${opts.store ?? "the local store"}`);
    }
    const info: PathInfo = {
      path: entry.path,
      narHash: normaliseNarHash(entry.narHash),
      narSize: entry.narSize,
      references: [...(entry.references ?? [])].sort(),
      signatures: entry.signatures ?? [],
    };
    if (entry.deriver !== undefined) info.deriver = entry.deriver;
    if (typeof entry.ca === "string") info.ca = entry.ca;
    return info;
  });
}

/**
 * The closure of `paths`, dependencies before their dependents: `nix-store -qR` prints the
 * topological sort reversed (Nix 2.8 has no `--topo` flag; this order is what it always prints).
 */
export async function closureOf(paths: readonly string[]): Promise<string[]> {
  return lines(await runNixOk("nix-store", ["--query", "--requisites", ...paths]));
}

/** Streams `nix-store --dump PATH`; a non-zero exit becomes an error on the stream, not an early end. */
export function dumpNar(path: string): Readable {
  const out = new PassThrough();
  void (async () => {
    const xdg = await nixTempDir("xdg");
    const child = spawn("nix-store", ["--dump", path], {
      env: buildEnv(xdg),
      stdio: ["ignore", "pipe", "pipe"],
    });
    const err: Buffer[] = [];
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.stdout.pipe(out, { end: false });
    out.on("close", () => {
      if (child.exitCode === null) child.kill("SIGKILL");
    });
    child.on("error", (e) => out.destroy(e));
    child.on("close", (code) => {
      void removeTree(xdg);
      if (code === 0) out.end();
      else
        out.destroy(
          new Error(`nix-store --dump ${path} exited with ${code}: ${Buffer.concat(err).toString()}`),
        );
    });
  })().catch((e: unknown) => out.destroy(e instanceof Error ? e : new Error(String(e))));
  return out;
}

/** sha256 of a stream as `sha256:<nix32>`, comparable with PathInfo.narHash. */
export async function narHashOf(stream: Readable): Promise<{ narHash: string; narSize: number }> {
  const h = createHash("sha256");
  let size = 0;
  for await (const chunk of stream) {
    const b = chunk as Buffer;
    h.update(b);
    size += b.length;
  }
  return { narHash: `sha256:${toNix32(h.digest())}`, narSize: size };
}

async function validPaths(paths: readonly string[]): Promise<string[]> {
  if (paths.length === 0) return [];
  const invalid = new Set(
    lines(await runNixOk("nix-store", ["--check-validity", "--print-invalid", ...paths])),
  );
  return paths.filter((p) => !invalid.has(p));
}

/** Deletes store paths that nothing else still needs; paths that are still alive are left alone. */
export async function deleteStorePaths(paths: readonly string[]): Promise<void> {
  const pending = new Set(paths);
  // Nix aborts the batch at the first path that is still alive (a GC root, or referenced from
  // outside the batch), possibly after deleting others; drop that path and retry with the rest.
  for (;;) {
    const valid = await validPaths([...pending]);
    if (valid.length === 0) return;
    const r = await runNix("nix-store", ["--delete", ...valid]);
    if (r.code === 0) return;
    const alive = /cannot delete path '([^']+)' since it is still alive/i.exec(r.stderr)?.[1];
    if (alive === undefined || !pending.delete(alive)) {
      throw new Error(`nix-store --delete failed:\n${r.stderr}`);
    }
  }
}

/** A fresh signing key pair from `nix-store --generate-binary-cache-key`. */
export async function generateBinaryCacheKey(name: string): Promise<BinaryCacheKey> {
  const dir = await nixTempDir("key");
  const secretKeyFile = join(dir, "secret");
  const publicKeyFile = join(dir, "public");
  await runNixOk("nix-store", ["--generate-binary-cache-key", name, secretKeyFile, publicKeyFile]);
  return {
    name,
    secretKeyFile,
    secretKey: (await readFile(secretKeyFile, "utf8")).trim(),
    publicKeyFile,
    publicKey: (await readFile(publicKeyFile, "utf8")).trim(),
  };
}

/** A netrc with an empty login, so Nix sends `Basic base64(":token")` to the cache's host. */
async function netrcFor(cacheUrl: string, token: string | undefined): Promise<string> {
  if (token === undefined) return "/dev/null";
  const host = new URL(cacheUrl).hostname;
  if (/\s/.test(token) || token.length === 0)
    throw new Error("netrc tokens must be non-empty without whitespace");
  const dir = await nixTempDir("netrc");
  const file = join(dir, "netrc");
  await writeFile(file, `machine ${host} password ${token}\n`, { mode: 0o600 });
  return file;
}

function withStoreParams(url: string, params: ReadonlyArray<[string, string]>): string {
  if (params.length === 0) return url;
  const query = params.map(([k, v]) => `${k}=${v}`).join("&");
  return `${url}${url.includes("?") ? "&" : "?"}${query}`;
}

/**
 * `nix copy --to <cacheUrl>` of `paths` (and their closure), as a first-time client: fresh XDG
 * cache, token via netrc, optional `compression=` and client-side `secret-key=` store parameters.
 */
export async function nixCopyTo(opts: {
  cacheUrl: string;
  paths: readonly string[];
  token?: string;
  compression?: "xz" | "zstd" | "none" | "bzip2" | "gzip" | "br" | "lz4" | "lzip";
  secretKeyFile?: string;
  timeoutMs?: number;
}): Promise<NixRun> {
  const params: Array<[string, string]> = [];
  if (opts.compression) params.push(["compression", opts.compression]);
  if (opts.secretKeyFile) params.push(["secret-key", opts.secretKeyFile]);
  const netrc = await netrcFor(opts.cacheUrl, opts.token);
  try {
    return await runNix("nix", ["copy", "--to", withStoreParams(opts.cacheUrl, params), ...opts.paths], {
      config: { "netrc-file": netrc },
      timeoutMs: opts.timeoutMs,
    });
  } finally {
    if (netrc !== "/dev/null") await removeTree(join(netrc, ".."));
  }
}

/**
 * Pulls `paths` from `cacheUrl` into a new chroot store with signatures required and only
 * `publicKey` trusted — `nix copy --from` (mode "copy", HEADs then GETs) or substitution by
 * `nix-store --realise` (mode "realise", GETs only). On success, each pulled path's NAR hash in the
 * chroot store is compared with the local store's; a mismatch turns the result into a failure.
 */
export async function pullIntoFreshStore(opts: {
  cacheUrl: string;
  publicKey: string;
  paths: readonly string[];
  token?: string;
  mode: "copy" | "realise";
  timeoutMs?: number;
}): Promise<PullResult> {
  const storeRoot = await nixTempDir("store");
  const store = `local?root=${storeRoot}`;
  const netrc = await netrcFor(opts.cacheUrl, opts.token);
  const config: Record<string, string> = {
    "netrc-file": netrc,
    "require-sigs": "true",
    "trusted-public-keys": opts.publicKey,
  };
  if (opts.mode === "realise") config.substituters = opts.cacheUrl;
  const [command, args] =
    opts.mode === "copy"
      ? ["nix", ["copy", "--from", opts.cacheUrl, "--store", store, ...opts.paths]]
      : ["nix-store", ["--store", store, "--realise", ...opts.paths]];
  let run: NixRun;
  try {
    run = await runNix(command, args, { config, timeoutMs: opts.timeoutMs });
  } finally {
    if (netrc !== "/dev/null") await removeTree(join(netrc, ".."));
  }
  const result: PullResult = { ...run, storeRoot, verified: [] };
  if (run.code !== 0) return result;

  const pulled = await queryPathInfo(opts.paths, { recursive: true, store });
  const local = new Map((await queryPathInfo(pulled.map((p) => p.path))).map((p) => [p.path, p]));
  const problems: string[] = [];
  for (const p of pulled) {
    const source = local.get(p.path);
    if (!source) {
      problems.push(`${p.path}: not in the local store to compare with`);
    } else if (source.narHash !== p.narHash || source.narSize !== p.narSize) {
      problems.push(
        `${p.path}: pulled ${p.narHash} (${p.narSize} B), local ${source.narHash} (${source.narSize} B)`,
      );
    } else {
      result.verified.push(p.path);
    }
  }
  if (problems.length > 0) {
    result.code = 1;
    result.stderr += `\n[test support] NAR hash check after pull failed:\n${problems.join("\n")}`;
  }
  return result;
}

/**
 * Serves a directory (e.g. one written by `nix copy --to file://DIR`) over HTTP on 127.0.0.1 with
 * GET and HEAD, like a static binary cache. Nix's `nix copy --from` needs HEAD to work.
 */
export async function serveDirectory(root: string): Promise<StaticServer> {
  const requests: StaticServer["requests"] = [];
  const base = normalize(root + sep);
  const server = createServer((req, res) => {
    const record = (status: number) => {
      const entry: StaticServer["requests"][number] = {
        method: req.method ?? "",
        path: req.url ?? "",
        status,
      };
      if (req.headers.authorization !== undefined) entry.authorization = req.headers.authorization;
      requests.push(entry);
    };
    if (req.method !== "GET" && req.method !== "HEAD") {
      record(405);
      res.writeHead(405, { Allow: "GET, HEAD" }).end();
      return;
    }
    const pathname = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    const file = normalize(join(base, pathname));
    void (async () => {
      const info = file.startsWith(base) ? await stat(file).catch(() => undefined) : undefined;
      if (!info?.isFile()) {
        record(404);
        res
          .writeHead(404, { "Content-Type": "text/plain" })
          .end(req.method === "HEAD" ? undefined : "not found\n");
        return;
      }
      record(200);
      res.writeHead(200, { "Content-Length": info.size, "Content-Type": "application/octet-stream" });
      if (req.method === "HEAD") res.end();
      else
        createReadStream(file)
          .on("error", () => res.destroy())
          .pipe(res);
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
}
