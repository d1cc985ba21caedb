/**
 * The local Nix store, through the Nix command line (attic links libnixstore instead; the CLI keeps
 * this client free of native code and works with Debian's Nix 2.8):
 *
 *   nix-store -qR PATHS...                 closure (no outputs, no derivers), one path per line
 *   nix path-info --json PATHS...          [{"path":…,"narHash":"sha256-…","narSize":120,
 *                                            "references":[…],"signatures":[…],"ca":"fixed:r:sha256:…"}]
 *   nix-store --dump PATH                  the NAR on stdout, streamed to the server
 *
 * `nix path-info` needs `--extra-experimental-features nix-command` on 2.8.
 */
import { spawn } from "node:child_process";
import { lstat, readlink } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import type { NarStream } from "./api-client.ts";
import { parseStorePath, sha256ToHex } from "./store-path.ts";

export interface PathInfo {
  path: string;
  hash: string;
  /** 64 hex digits */
  narHash: string;
  narSize: number;
  /** full store paths */
  references: string[];
  sigs: string[];
  ca: string | null;
}

/** Paths per Nix invocation, to stay far below the argv limit. */
const ARG_BATCH = 1000;

interface RunResult {
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[]): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    child.on("error", (e) => reject(new Error(`cannot run ${cmd}: ${e.message}`)));
    child.on("close", (code) => {
      const stdout = Buffer.concat(out).toString();
      const stderr = Buffer.concat(err).toString();
      if (code === 0) resolvePromise({ stdout, stderr });
      else reject(new Error(`${cmd} ${args[0] ?? ""} failed (exit ${code}): ${stderr.trim()}`));
    });
  });
}

function batches<T>(items: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += ARG_BATCH) out.push(items.slice(i, i + ARG_BATCH));
  return out;
}

export class NixCli {
  readonly storeDir: string;

  constructor(storeDir = "/nix/store") {
    this.storeDir = storeDir;
  }

  /**
   * Maps a command-line argument to a top-level store path: symlinks outside the store are followed
   * (`./result`, `/run/current-system`), and a path inside a store object maps to that object.
   */
  async resolvePath(arg: string): Promise<string> {
    let current = resolve(arg);
    for (let hops = 0; hops < 40; hops++) {
      if (current.startsWith(`${this.storeDir}/`)) {
        const top =
          current.slice(0, this.storeDir.length + 1) +
          (current.slice(this.storeDir.length + 1).split("/")[0] ?? "");
        if (!parseStorePath(top, this.storeDir)) throw new Error(`${arg}: ${top} is not a valid store path`);
        return top;
      }
      let stat: Awaited<ReturnType<typeof lstat>>;
      try {
        stat = await lstat(current);
      } catch (e) {
        throw new Error(`${arg}: ${(e as Error).message}`);
      }
      if (!stat.isSymbolicLink()) throw new Error(`${arg} is not in the Nix store (${this.storeDir})`);
      current = resolve(dirname(current), await readlink(current));
    }
    throw new Error(`${arg}: too many levels of symbolic links`);
  }

  async queryClosure(paths: string[]): Promise<string[]> {
    if (paths.length === 0) return [];
    const seen = new Set<string>();
    for (const batch of batches(paths)) {
      const { stdout } = await run("nix-store", ["-qR", ...batch]);
      for (const line of stdout.split("\n")) if (line) seen.add(line);
    }
    return [...seen];
  }

  async queryPathInfos(paths: string[]): Promise<PathInfo[]> {
    const infos: PathInfo[] = [];
    for (const batch of batches(paths)) {
      const { stdout } = await run("nix", [
        "--extra-experimental-features",
        "nix-command",
        "path-info",
        "--json",
        ...batch,
      ]);
      for (const raw of JSON.parse(stdout) as Record<string, unknown>[])
        infos.push(toPathInfo(raw, this.storeDir));
    }
    return infos;
  }

  /** Starts `nix-store --dump`; the body fails if the dump exits non-zero. */
  dump(path: string): NarStream {
    const child = spawn("nix-store", ["--dump", path], { stdio: ["ignore", "pipe", "pipe"] });
    const stderr: Buffer[] = [];
    child.stderr.on("data", (c: Buffer) => stderr.push(c));
    const exited = new Promise<number | null>((res, rej) => {
      child.on("error", rej);
      child.on("close", (code) => res(code));
    });
    async function* body(): AsyncGenerator<Uint8Array> {
      try {
        for await (const chunk of child.stdout) yield chunk as Buffer;
        const code = await exited;
        if (code !== 0)
          throw new Error(
            `nix-store --dump ${path} failed (exit ${code}): ${Buffer.concat(stderr).toString().trim()}`,
          );
      } finally {
        if (child.exitCode === null) child.kill();
      }
    }
    return {
      body: body(),
      cancel: () => {
        if (child.exitCode === null) child.kill();
      },
    };
  }
}

export function toPathInfo(raw: Record<string, unknown>, storeDir: string): PathInfo {
  const path = String(raw.path);
  if (raw.valid === false) throw new Error(`path '${path}' is not valid in the local Nix store`);
  const parts = parseStorePath(path, storeDir);
  if (!parts) throw new Error(`nix path-info returned an unexpected path: ${path}`);
  if (typeof raw.narHash !== "string" || typeof raw.narSize !== "number") {
    throw new Error(`nix path-info: missing narHash/narSize for ${path}`);
  }
  return {
    path,
    hash: parts.hash,
    narHash: sha256ToHex(raw.narHash),
    narSize: raw.narSize,
    references: Array.isArray(raw.references) ? raw.references.map(String) : [],
    sigs: Array.isArray(raw.signatures) ? raw.signatures.map(String) : [],
    ca: typeof raw.ca === "string" ? raw.ca : null,
  };
}
