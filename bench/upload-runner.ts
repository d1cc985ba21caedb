/**
 * Runs `upload-process.ts` in a child process and returns its result (see that file). A running
 * batch can be cut short: `abort()` kills the child (its `nix-store --dump` pipes close with it)
 * and the batch then resolves to null.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { onCleanup, tempDir } from "./cleanup.ts";
import { DUMP_XDG_ENV, type PathInfo } from "./nix.ts";
import type { UploadResult } from "./upload.ts";

const CHILD = fileURLToPath(new URL("./upload-process.ts", import.meta.url));

export interface UploadBatch {
  ms: number;
  bytes: number;
  results: UploadResult[];
}

export interface UploadJob {
  url: string;
  token: string;
  cache: string;
  paths: readonly PathInfo[];
  parallelism: number;
  /** NARs already dumped there (`dumpNarsTo`); absent: `nix-store --dump` per upload. */
  narDir?: string;
}

let dumpXdg: Promise<string> | undefined;

export async function startUploads(
  job: UploadJob,
): Promise<{ done: Promise<UploadBatch | null>; abort: () => void }> {
  dumpXdg ??= tempDir("dump-xdg");
  const env = { ...process.env, [DUMP_XDG_ENV]: await dumpXdg };
  const child = spawn(process.execPath, [CHILD], { stdio: ["pipe", "pipe", "pipe"], env });
  let aborted = false;
  const abort = () => {
    aborted = true;
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  };
  const unregister = onCleanup(abort);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on("data", (b: Buffer) => out.push(b));
  child.stderr.on("data", (b: Buffer) => err.push(b));
  child.stdin.on("error", () => {});
  child.stdin.end(JSON.stringify(job));
  const done = new Promise<UploadBatch | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      const cut = aborted;
      // Unregistering runs abort(), a no-op once the child has exited.
      void unregister();
      if (cut) return resolve(null);
      if (code !== 0) {
        return reject(
          new Error(
            `upload child exited with ${code}:\n${Buffer.concat(err).toString().trim().slice(-3000)}`,
          ),
        );
      }
      resolve(JSON.parse(Buffer.concat(out).toString("utf8")) as UploadBatch);
    });
  });
  return { done, abort };
}

export async function uploadInChild(job: UploadJob): Promise<UploadBatch> {
  const batch = await (await startUploads(job)).done;
  if (!batch) throw new Error("upload batch aborted");
  return batch;
}

/** Runs the uploads for at most `windowMs`; returns null when they were cut short. */
export async function uploadsWithin(
  job: UploadJob,
  windowMs: number,
): Promise<{ batch: UploadBatch | null; ms: number }> {
  const started = performance.now();
  const run = await startUploads(job);
  const timer = setTimeout(run.abort, windowMs);
  try {
    const batch = await run.done;
    return { batch, ms: performance.now() - started };
  } finally {
    clearTimeout(timer);
  }
}
