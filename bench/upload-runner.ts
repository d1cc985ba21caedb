/** Runs `upload-process.ts` in a child process and returns its result (see that file). */
import { fileURLToPath } from "node:url";
import { exec } from "./exec.ts";
import type { PathInfo } from "./nix.ts";
import type { UploadResult } from "./upload.ts";

const CHILD = fileURLToPath(new URL("./upload-process.ts", import.meta.url));

export interface UploadBatch {
  ms: number;
  bytes: number;
  results: UploadResult[];
}

export async function uploadInChild(job: {
  url: string;
  token: string;
  cache: string;
  paths: readonly PathInfo[];
  parallelism: number;
}): Promise<UploadBatch> {
  const r = await exec(process.execPath, ["--import", "tsx", CHILD], { input: JSON.stringify(job) });
  if (r.code !== 0) throw new Error(`upload child exited with ${r.code}:\n${r.stderr.trim().slice(-3000)}`);
  return JSON.parse(r.stdout) as UploadBatch;
}
