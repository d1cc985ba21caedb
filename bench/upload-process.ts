/**
 * Child process entry for uploads that run while something else is measured (a 1 GiB upload, the
 * four concurrent uploads under which narinfo latency and peak RSS are taken): the pushing happens
 * here, so its CPU does not delay the measuring client's event loop.
 *
 * stdin: {"url": "...", "token": "...", "cache": "...", "paths": [PathInfo...], "parallelism": 4, "narDir": "..."}
 * (`narDir` optional: NARs dumped there beforehand instead of `nix-store --dump` per upload)
 * stdout: {"ms": 1234.5, "bytes": 1073741824, "results": [{"path": "...", "narSize": 1, "ms": 2, "kind": "Uploaded"}]}
 */
import { text } from "node:stream/consumers";
import type { PathInfo } from "./nix.ts";
import { uploadAll } from "./upload.ts";

interface Job {
  url: string;
  token: string;
  cache: string;
  paths: PathInfo[];
  parallelism: number;
  narDir?: string;
}

const job = JSON.parse(await text(process.stdin)) as Job;
const result = await uploadAll(job.url, job.token, job.cache, job.paths, job.parallelism, job.narDir);
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
