/**
 * Runs short external commands (apt-get, nix-build, psql, sha256sum, zstd) to completion with an
 * argument vector, never a shell, and fails with the command's stderr when it exits non-zero.
 */
import { spawn } from "node:child_process";

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Bytes written to stdin, then closed. */
  input?: string;
  timeoutMs?: number;
}

export function exec(
  command: string,
  args: readonly string[],
  options: ExecOptions = {},
): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => child.kill("SIGKILL"), options.timeoutMs);
    child.stdout?.on("data", (b: Buffer) => out.push(b));
    child.stderr?.on("data", (b: Buffer) => err.push(b));
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      });
    });
    if (child.stdin) {
      // A child that exits without reading its input must not crash the benchmark with EPIPE.
      child.stdin.on("error", () => {});
      child.stdin.end(options.input);
    }
  });
}

/** Like exec, but a non-zero exit is an error carrying the command line and its stderr. */
export async function execOk(
  command: string,
  args: readonly string[],
  options: ExecOptions = {},
): Promise<string> {
  const r = await exec(command, args, options);
  if (r.code !== 0) {
    const tail = r.stderr.trim().split("\n").slice(-30).join("\n");
    throw new Error(
      `${command} ${args.slice(0, 6).join(" ")}${args.length > 6 ? " …" : ""} exited with ${r.code}:\n${tail}`,
    );
  }
  return r.stdout;
}

/** Whether `command --version` (or the given probe args) runs successfully. */
export async function commandWorks(
  command: string,
  probe: readonly string[] = ["--version"],
): Promise<boolean> {
  try {
    return (await exec(command, probe, { timeoutMs: 10_000 })).code === 0;
  } catch {
    return false;
  }
}

/** `apt-get install -y --no-install-recommends` of the first candidate that installs; runs `apt-get update` once if needed. */
export async function aptInstall(candidates: readonly string[]): Promise<string> {
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const errors: string[] = [];
  for (let attempt = 0; attempt < 2; attempt++) {
    if (attempt === 1) {
      const u = await exec("apt-get", ["update"], { env });
      if (u.code !== 0) errors.push(`apt-get update: ${u.stderr.trim()}`);
    }
    for (const pkg of candidates) {
      const r = await exec("apt-get", ["install", "-y", "--no-install-recommends", pkg], { env });
      if (r.code === 0) return pkg;
      errors.push(`${pkg}: ${r.stderr.trim().split("\n").slice(-3).join(" | ")}`);
    }
  }
  throw new Error(`could not install any of ${candidates.join(", ")} with apt-get:\n${errors.join("\n")}`);
}
