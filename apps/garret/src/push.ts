/**
 * The push pipeline shared by `push`, `push --stdin` and `watch-store` (attic `client/src/push.rs`):
 * closure → path info → drop paths signed by the cache's upstream keys → get-missing-paths →
 * N workers streaming `nix-store --dump` into `PUT /_api/v1/upload-path`, or, when the server
 * offers garret's chunk-upload extension, cutting the NAR and sending only the chunks it lacks
 * (chunk-push.ts).
 */
import type { ChunkUploadOffer, UploadPathNarInfo } from "@garret/protocol";
import type { ApiClient } from "./api-client.ts";
import { pushNarChunked, usesChunkUpload } from "./chunk-push.ts";
import type { NixCli, PathInfo } from "./nix-cli.ts";
import type { PushReporter } from "./progress.ts";
import { formatBytes } from "./progress.ts";

export interface PushTarget {
  client: ApiClient;
  cache: string;
  nix: NixCli;
  reporter: PushReporter;
  jobs: number;
  forcePreamble: boolean;
  /** null when the filter is off (flag, or the cache config could not be read) */
  upstreamKeyNames: string[] | null;
  noClosure: boolean;
  /** The server's chunk-upload offer; null: the attic API only (atticd, or the extension is off). */
  chunkOffer: ChunkUploadOffer | null;
}

export interface PushPlan {
  toUpload: PathInfo[];
  considered: number;
  skippedUpstream: PathInfo[];
  alreadyCached: number;
}

export interface PushOutcome {
  uploaded: number;
  failed: { path: string; error: unknown }[];
}

/** Splits off paths carrying a signature by any upstream key (name = text before the first `:`). */
export function filterUpstream(
  infos: PathInfo[],
  keyNames: string[] | null,
): { kept: PathInfo[]; skipped: PathInfo[] } {
  if (!keyNames || keyNames.length === 0) return { kept: infos, skipped: [] };
  const names = new Set(keyNames);
  const kept: PathInfo[] = [];
  const skipped: PathInfo[] = [];
  for (const info of infos) {
    const signed = info.sigs.some((sig) => {
      const colon = sig.indexOf(":");
      return colon > 0 && names.has(sig.slice(0, colon));
    });
    (signed ? skipped : kept).push(info);
  }
  return { kept, skipped };
}

export function upstreamSkipMessage(skipped: number, keyNames: string[], cache: string): string {
  return (
    `⏭  skipped ${skipped} path${skipped === 1 ? "" : "s"} signed by the cache's upstream keys (${keyNames.join(", ")}); ` +
    `push them with --ignore-upstream-cache-filter, or disable the filter for the cache with ` +
    `garret cache configure ${cache} --upstream-cache-key-name ''`
  );
}

/**
 * Computes what to upload for `roots`. Paths whose hash is in `handled` are left out, and every
 * path considered is added to it, so later batches of the same run skip them.
 */
export async function planPush(
  target: PushTarget,
  roots: string[],
  handled?: Set<string>,
): Promise<PushPlan> {
  const closure = target.noClosure ? [...new Set(roots)] : await target.nix.queryClosure(roots);
  const fresh = handled ? closure.filter((p) => !handled.has(hashOf(p))) : closure;
  if (fresh.length === 0) return { toUpload: [], considered: 0, skippedUpstream: [], alreadyCached: 0 };
  const infos = await target.nix.queryPathInfos(fresh);
  for (const info of infos) handled?.add(info.hash);
  const { kept, skipped } = filterUpstream(infos, target.upstreamKeyNames);
  if (kept.length === 0)
    return { toUpload: [], considered: infos.length, skippedUpstream: skipped, alreadyCached: 0 };
  const missing = new Set(
    await target.client.getMissingPaths(
      target.cache,
      kept.map((i) => i.hash),
    ),
  );
  const toUpload = kept.filter((i) => missing.has(i.hash));
  return {
    toUpload,
    considered: infos.length,
    skippedUpstream: skipped,
    alreadyCached: kept.length - toUpload.length,
  };
}

export function reportPlan(target: PushTarget, plan: PushPlan): void {
  const r = target.reporter;
  if (plan.skippedUpstream.length > 0 && target.upstreamKeyNames) {
    r.message(upstreamSkipMessage(plan.skippedUpstream.length, target.upstreamKeyNames, target.cache));
  }
  const bytes = plan.toUpload.reduce((s, i) => s + i.narSize, 0);
  if (plan.considered > 0) {
    r.message(
      `⚙️  pushing ${plan.toUpload.length} path${plan.toUpload.length === 1 ? "" : "s"} (${formatBytes(bytes)}) to "${target.cache}"` +
        ` (${plan.alreadyCached} already cached, ${plan.skippedUpstream.length} in upstream)`,
    );
  }
}

export function narInfoFor(cache: string, info: PathInfo, storeDir: string): UploadPathNarInfo {
  const prefix = `${storeDir}/`;
  return {
    cache,
    store_path_hash: info.hash,
    store_path: info.path,
    references: info.references.map((r) => (r.startsWith(prefix) ? r.slice(prefix.length) : r)),
    system: null,
    deriver: null,
    sigs: info.sigs,
    ca: info.ca,
    nar_hash: `sha256:${info.narHash}`,
    nar_size: info.narSize,
  };
}

/** Uploads with `jobs` workers; failures are collected, not thrown, so every path gets its chance. */
export async function uploadPaths(
  target: PushTarget,
  infos: PathInfo[],
  now: () => number = Date.now,
): Promise<PushOutcome> {
  const outcome: PushOutcome = { uploaded: 0, failed: [] };
  if (infos.length === 0) return outcome;
  target.reporter.begin(
    infos.length,
    infos.reduce((s, i) => s + i.narSize, 0),
  );
  const queue = [...infos];
  const worker = async () => {
    for (let info = queue.shift(); info; info = queue.shift()) {
      const current = info;
      const started = now();
      try {
        const info = narInfoFor(target.cache, current, target.nix.storeDir);
        const openNar = () => target.nix.dump(current.path);
        if (usesChunkUpload(target.chunkOffer, current.narSize)) {
          const pushed = await pushNarChunked(target.client, target.chunkOffer, info, openNar, (done, t) =>
            target.reporter.progress(current.path, done, t),
          );
          outcome.uploaded++;
          target.reporter.done(current.path, pushed.result, current.narSize, now() - started, pushed);
          continue;
        }
        const result = await target.client.uploadPath(info, openNar, {
          forcePreamble: target.forcePreamble,
          onProgress: (sent) => target.reporter.progress(current.path, sent),
        });
        outcome.uploaded++;
        target.reporter.done(current.path, result, current.narSize, now() - started);
      } catch (e) {
        outcome.failed.push({ path: current.path, error: e });
        target.reporter.failed(current.path, e instanceof Error ? e.message : String(e));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(target.jobs, infos.length) }, worker));
  return outcome;
}

function hashOf(path: string): string {
  const base = path.slice(path.lastIndexOf("/") + 1);
  return base.slice(0, 32);
}
