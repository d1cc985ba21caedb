/**
 * Pushes store paths through `PUT /_api/v1/upload-path` the way the attic client does: NAR info
 * JSON in `X-Attic-Nar-Info` (or as a body preamble when large), the NAR streamed from
 * `nix-store --dump` (or from a file dumped beforehand, `narFile`) with chunked transfer encoding
 * and no length.
 */
import { createReadStream } from "node:fs";
import { Agent, request } from "node:http";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { atticUploadRequest, narInfoForPath } from "../test/support/upload-info.ts";
import { dumpNar, type PathInfo } from "./nix.ts";

function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

export interface UploadResult {
  path: string;
  narSize: number;
  ms: number;
  kind: string;
}

// One connection per upload: a pooled idle socket that the server has just closed would turn into a
// "socket hang up" on a request whose body cannot be replayed.
const agent = new Agent({ keepAlive: false, maxSockets: 64 });

export async function uploadPath(
  url: string,
  token: string,
  cache: string,
  info: PathInfo,
  narFile?: string,
): Promise<UploadResult> {
  const nar = narFile === undefined ? dumpNar(info.path) : createReadStream(narFile);
  const { headers, body } = atticUploadRequest(narInfoForPath(cache, info), nar, {
    token,
    userAgent: "garret-bench (attic-compatible upload)",
  });
  const started = performance.now();
  const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request(`${url}/_api/v1/upload-path`, { method: "PUT", agent, headers }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (b: Buffer) => parts.push(b));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString("utf8") }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    pipeline(body, req).catch(reject);
  });
  const ms = performance.now() - started;
  if (answer.status !== 200)
    throw new Error(`upload of ${info.path} failed: HTTP ${answer.status} ${answer.text}`);
  const kind = (JSON.parse(answer.text) as { kind?: string }).kind ?? "?";
  return { path: info.path, narSize: info.narSize, ms, kind };
}

/** Where `dumpNarsTo` puts a path's NAR. */
export function narFileIn(dir: string, info: PathInfo): string {
  return join(dir, `${baseName(info.path).slice(0, 32)}.nar`);
}

/**
 * Uploads every path with `parallelism` uploads in flight; dependencies first is the caller's order.
 * With `narDir`, NARs are read from the files `dumpNarsTo` wrote there instead of `nix-store --dump`.
 */
export async function uploadAll(
  url: string,
  token: string,
  cache: string,
  paths: readonly PathInfo[],
  parallelism: number,
  narDir?: string,
): Promise<{ ms: number; bytes: number; results: UploadResult[] }> {
  const queue = [...paths];
  const results: UploadResult[] = [];
  const started = performance.now();
  const worker = async (): Promise<void> => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      const file = narDir === undefined ? undefined : narFileIn(narDir, next);
      results.push(await uploadPath(url, token, cache, next, file));
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallelism, paths.length) }, worker));
  return { ms: performance.now() - started, bytes: paths.reduce((a, p) => a + p.narSize, 0), results };
}
