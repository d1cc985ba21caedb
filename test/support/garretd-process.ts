/**
 * One garretd process, as every harness spawns it (`apps/garretd/bin/garretd.js -f CONFIG`): any
 * mode, optionally listening on a loopback port, optionally under node flags (the benchmark's
 * `--cpu-prof`) or a umask; output is kept for assertions and error messages, and the promise
 * resolves once a listening mode has logged that it listens.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export const GARRETD_BIN = fileURLToPath(new URL("../../apps/garretd/bin/garretd.js", import.meta.url));
export const GARRETADM_BIN = fileURLToPath(new URL("../../apps/garretd/bin/garretadm.js", import.meta.url));

export interface GarretdProcessOptions {
  configPath: string;
  env: NodeJS.ProcessEnv;
  /** `--mode`; omitted: garretd's default (monolithic). */
  mode?: string;
  /** Loopback port to listen on (`--listen 127.0.0.1:PORT`). */
  port?: number;
  /** Extra garretd arguments. */
  args?: string[];
  /** Flags for node itself, before the script. */
  nodeArgs?: string[];
  /** Starts the process under this umask (through /bin/sh), e.g. 0o022 as a login shell has. */
  umask?: number;
  /** Wait for the "listening" line (default: whenever a port is given). */
  waitForListening?: boolean;
  /** Keep only the last this many characters of output (default: all of it). */
  outputLimit?: number;
  /** How long to wait for "listening" (default 60 s). */
  startTimeoutMs?: number;
}

export interface GarretdProcess {
  /** `http://127.0.0.1:<port>`; empty for a process that does not listen. */
  url: string;
  child: ChildProcess;
  logs(): string;
  /** Whether the process has not exited yet. */
  running(): boolean;
  /** Resolves with the exit code and signal once the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves when the output contains `text`; rejects if the process exits first. */
  waitForLog(text: string, timeoutMs?: number): Promise<void>;
  /** Sends `signal` and waits for the exit. */
  kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, SIGKILL after 20 s; waits for the exit. */
  stop(): Promise<void>;
}

export async function spawnGarretdProcess(opts: GarretdProcessOptions): Promise<GarretdProcess> {
  const args = [GARRETD_BIN, "-f", opts.configPath];
  if (opts.mode !== undefined) args.push("--mode", opts.mode);
  args.push(...(opts.args ?? []));
  if (opts.port !== undefined) args.push("--listen", `127.0.0.1:${opts.port}`);
  const argv = [...(opts.nodeArgs ?? []), ...args];
  const stdio: ["ignore", "pipe", "pipe"] = ["ignore", "pipe", "pipe"];
  const child =
    opts.umask === undefined
      ? spawn(process.execPath, argv, { env: opts.env, stdio })
      : spawn(
          "/bin/sh",
          [
            "-c",
            `umask ${opts.umask.toString(8).padStart(3, "0")}; exec "$0" "$@"`,
            process.execPath,
            ...argv,
          ],
          { env: opts.env, stdio },
        );

  let output = "";
  const waiters = new Set<() => void>();
  const onData = (d: Buffer) => {
    output += d.toString();
    if (opts.outputLimit !== undefined && output.length > 2 * opts.outputLimit) {
      output = output.slice(-opts.outputLimit);
    }
    for (const w of waiters) w();
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  let alive = true;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => {
      alive = false;
      resolve({ code, signal });
    }),
  );
  const what = `garretd${opts.mode ? ` --mode ${opts.mode}` : ""}`;
  const waitForLog = (text: string, timeoutMs = 60_000) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (output.includes(text)) {
          done();
          resolve();
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${what} did not log ${JSON.stringify(text)} within ${timeoutMs} ms:\n${output}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      void exited.then(({ code, signal }) => {
        if (!waiters.has(check)) return;
        done();
        if (output.includes(text)) resolve();
        else
          reject(
            new Error(
              `${what} exited with ${code ?? signal} before logging ${JSON.stringify(text)}:\n${output}`,
            ),
          );
      });
      check();
    });
  const kill = async (signal: NodeJS.Signals) => {
    if (alive) child.kill(signal);
    return exited;
  };
  const handle: GarretdProcess = {
    url: opts.port === undefined ? "" : `http://127.0.0.1:${opts.port}`,
    child,
    logs: () => output,
    running: () => alive,
    exited,
    waitForLog,
    kill,
    async stop() {
      if (!alive) return;
      const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      await kill("SIGTERM");
      clearTimeout(timer);
    },
  };
  if (opts.waitForListening ?? opts.port !== undefined) {
    try {
      await waitForLog('"msg":"listening"', opts.startTimeoutMs);
    } catch (err) {
      await handle.stop();
      throw err;
    }
  }
  return handle;
}
