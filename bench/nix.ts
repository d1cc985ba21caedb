/**
 * Drives Debian's nix-bin (Nix 2.8, root, no daemon) for the benchmark: configuration in NIX_CONFIG,
 * NIX_REMOTE=local, and a fresh XDG_CACHE_HOME per call (Nix's narinfo disk cache would otherwise
 * make a second `nix copy` skip work). Installs nix-bin with apt when it is missing.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, type Readable } from "node:stream";
import { normalizeSha256Nix32 } from "@garret/nix";
import { aptInstall, commandWorks, execOk } from "./exec.ts";

const NIX_CONFIG = [
  "experimental-features = nix-command",
  "sandbox = false",
  "build-users-group =",
  "substituters =",
  "require-sigs = true",
  "connect-timeout = 10",
  "netrc-file = /dev/null",
  "cores = 0",
  "max-jobs = 2",
].join("\n");

export interface PathInfo {
  path: string;
  /** `sha256:<nix-base32>`. */
  narHash: string;
  narSize: number;
  /** Full store paths, sorted. */
  references: string[];
  deriver: string | null;
  ca: string | null;
}

export async function ensureNix(): Promise<void> {
  if ((await commandWorks("nix")) && (await commandWorks("nix-store"))) return;
  process.stderr.write("bench: nix not found, installing Debian's nix-bin\n");
  await aptInstall(["nix-bin"]);
  if (!(await commandWorks("nix"))) throw new Error("nix-bin was installed but `nix --version` still fails");
}

async function nixEnv(extraConfig = ""): Promise<{ env: NodeJS.ProcessEnv; done: () => Promise<void> }> {
  const xdg = await mkdtemp(join(tmpdir(), "garret-bench-xdg-"));
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("NIX_")) env[k] = v;
  env.NIX_REMOTE = "local";
  // Later lines win: extra settings override the defaults above.
  env.NIX_CONFIG = extraConfig === "" ? NIX_CONFIG : `${NIX_CONFIG}\n${extraConfig}`;
  env.XDG_CACHE_HOME = xdg;
  return { env, done: () => rm(xdg, { recursive: true, force: true }) };
}

/** Runs a nix command and returns its stdout; throws with stderr on failure. */
export async function nix(command: string, args: readonly string[], extraConfig = ""): Promise<string> {
  const { env, done } = await nixEnv(extraConfig);
  try {
    return await execOk(command, args, { env });
  } finally {
    await done();
  }
}

interface RawInfo {
  path: string;
  narHash?: string;
  narSize?: number;
  references?: string[];
  deriver?: string;
  ca?: string;
}

/** `nix path-info --json` (optionally of the closure) for paths in the local store. */
export async function pathInfo(paths: readonly string[], recursive = false): Promise<PathInfo[]> {
  const out: PathInfo[] = [];
  // Bounded argument lists: a few hundred store paths per call.
  for (let i = 0; i < paths.length; i += 200) {
    const args = ["path-info", "--json", ...(recursive ? ["--recursive"] : []), ...paths.slice(i, i + 200)];
    const parsed = JSON.parse(await nix("nix", args)) as RawInfo[] | Record<string, Omit<RawInfo, "path">>;
    const entries: RawInfo[] = Array.isArray(parsed)
      ? parsed
      : Object.entries(parsed).map(([path, v]) => ({ ...v, path }));
    for (const e of entries) {
      if (e.narHash === undefined || e.narSize === undefined) throw new Error(`${e.path} is not valid`);
      out.push({
        path: e.path,
        narHash: normalizeSha256Nix32(e.narHash),
        narSize: e.narSize,
        references: [...(e.references ?? [])].sort(),
        deriver: e.deriver ?? null,
        ca: e.ca ?? null,
      });
    }
  }
  const seen = new Set<string>();
  return out.filter((p) => {
    if (seen.has(p.path)) return false;
    seen.add(p.path);
    return true;
  });
}

/**
 * Set by the benchmark for its upload helper processes: one XDG cache directory that the parent
 * owns and removes. A dump reads the local store only, so sharing it is harmless, and a helper that
 * is killed mid-upload leaves nothing behind.
 */
export const DUMP_XDG_ENV = "GARRET_BENCH_DUMP_XDG";

function dumpEnv(): Promise<{ env: NodeJS.ProcessEnv; done: () => Promise<void> }> {
  const shared = process.env[DUMP_XDG_ENV];
  if (shared === undefined) return nixEnv();
  return nixEnv().then(async ({ env, done }) => {
    await done();
    return { env: { ...env, XDG_CACHE_HOME: shared }, done: async () => {} };
  });
}

/** `nix-store --dump PATH` as a stream; a non-zero exit destroys the stream with stderr. */
export function dumpNar(path: string): Readable {
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  void dumpEnv().then(
    ({ env, done }) => {
      const child = spawn("nix-store", ["--dump", path], { env, stdio: ["ignore", "pipe", "pipe"] });
      const err: Buffer[] = [];
      child.stderr.on("data", (b: Buffer) => err.push(b));
      child.stdout.pipe(out, { end: false });
      out.on("close", () => {
        if (child.exitCode === null) child.kill("SIGKILL");
      });
      child.on("error", (e) => out.destroy(e));
      child.on("close", (code) => {
        void done();
        if (code === 0) out.end();
        else
          out.destroy(
            new Error(`nix-store --dump ${path} exited with ${code}: ${Buffer.concat(err).toString()}`),
          );
      });
    },
    (e: unknown) => out.destroy(e instanceof Error ? e : new Error(String(e))),
  );
  return out;
}

/** `nix copy --to file://DIR?compression=zstd` of the paths and their closure. */
export async function copyToFileCache(dir: string, paths: readonly string[]): Promise<void> {
  await copyTo(`file://${dir}?compression=zstd`, paths, "");
}

/**
 * `nix copy --to URL?compression=zstd` into a garret cache (`URL` = http://host:port/CACHE), the
 * token as the netrc password, as a first-time client (fresh XDG cache).
 */
export async function copyToHttpCache(
  cacheUrl: string,
  token: string,
  paths: readonly string[],
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "garret-bench-netrc-"));
  try {
    const netrc = join(dir, "netrc");
    await writeFile(netrc, `machine ${new URL(cacheUrl).hostname} password ${token}\n`, { mode: 0o600 });
    await copyTo(`${cacheUrl}?compression=zstd`, paths, `netrc-file = ${netrc}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function copyTo(store: string, paths: readonly string[], extraConfig: string): Promise<void> {
  // One command for the whole set when the argument list allows it, so Nix copies paths in parallel
  // across the whole closure; bounded argument lists beyond that.
  for (let i = 0; i < paths.length; i += 500) {
    await nix("nix", ["copy", "--to", store, ...paths.slice(i, i + 500)], extraConfig);
  }
}
