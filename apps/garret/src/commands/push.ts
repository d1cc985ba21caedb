/**
 * `garret push CACHE [PATHS...] [--stdin] [--no-closure] [--ignore-upstream-cache-filter] [-j N]
 * [--force-preamble] [--attic-api] [--dry-run]` (attic `client/src/command/push.rs`). Uploads go
 * through garret's chunk-upload extension when the server offers it (docs/chunk-upload.md), else,
 * or with `--attic-api` or `--force-preamble` (attic-API framing), through `upload-path`.
 */
import { createInterface } from "node:readline";
import { ApiError } from "../api-client.ts";
import { Batcher } from "../batcher.ts";
import { type CliContext, type Connection, connect, HintedError, UsageError } from "../context.ts";
import { NixCli } from "../nix-cli.ts";
import { createReporter, formatBytes } from "../progress.ts";
import { type PushOutcome, type PushTarget, planPush, reportPlan, uploadPaths } from "../push.ts";

export interface PushFlags {
  stdin: boolean;
  noClosure: boolean;
  ignoreUpstreamCacheFilter: boolean;
  jobs: number;
  forcePreamble: boolean;
  /** Upload with the attic API even when the server offers chunk upload. */
  atticApi: boolean;
  dryRun: boolean;
}

/**
 * Reads the cache config to learn the API endpoint and the upstream keys. A token with `w` but no
 * `r` cannot read it (403); attic then refuses to push, here the push goes on without the filter.
 */
export async function preparePush(
  ctx: CliContext,
  conn: Connection,
  storeDir: string,
  flags: Omit<PushFlags, "stdin" | "dryRun">,
): Promise<PushTarget> {
  let upstreamKeyNames: string[] | null = null;
  try {
    const config = await conn.call("read", (c) => c.getCacheConfig(conn.cache));
    if (config.api_endpoint) conn.client = conn.client.withEndpoint(config.api_endpoint);
    if (!flags.ignoreUpstreamCacheFilter) upstreamKeyNames = config.upstream_cache_key_names ?? [];
  } catch (e) {
    const original = e instanceof HintedError ? e.original : e;
    if (!(original instanceof ApiError && original.status === 403)) throw e;
    ctx.stderr.write(
      `⚠️  this token cannot read the configuration of "${conn.cache}" (it lacks "r"); pushing without the upstream cache filter\n`,
    );
  }
  const atticOnly = flags.atticApi || flags.forcePreamble;
  const chunkOffer = atticOnly ? null : await conn.call("push", (c) => c.getChunkUploadOffer());
  return {
    client: conn.client,
    cache: conn.cache,
    nix: new NixCli(storeDir),
    reporter: createReporter(ctx.stderr),
    jobs: flags.jobs,
    forcePreamble: flags.forcePreamble,
    upstreamKeyNames,
    noClosure: flags.noClosure,
    chunkOffer,
  };
}

export async function push(
  ctx: CliContext,
  storeDir: string,
  cacheRef: string,
  paths: string[],
  flags: PushFlags,
): Promise<number> {
  if (!flags.stdin && paths.length === 0)
    throw new UsageError("no paths given (pass store paths, or --stdin to read them)");
  const conn = await connect(ctx, cacheRef);
  const target = await preparePush(ctx, conn, storeDir, flags);
  const withHint = <T>(fn: () => Promise<T>) => conn.call("push", () => fn());
  const outcome: PushOutcome = { uploaded: 0, failed: [] };

  const runBatch = async (roots: string[], handled?: Set<string>) => {
    const plan = await withHint(() => planPush(target, roots, handled));
    reportPlan(target, plan);
    if (flags.dryRun) {
      for (const info of plan.toUpload) ctx.stdout.write(`${info.path}\t${formatBytes(info.narSize)}\n`);
      return;
    }
    const result = await uploadPaths(target, plan.toUpload);
    outcome.uploaded += result.uploaded;
    outcome.failed.push(...result.failed);
  };

  if (!flags.stdin) {
    const roots = await Promise.all(paths.map((p) => target.nix.resolvePath(p)));
    await runBatch(roots);
  } else {
    const handled = new Set<string>();
    let batchError: unknown;
    const batcher = new Batcher<string>(async (roots) => {
      if (batchError) return;
      await runBatch(roots, handled).catch((e: unknown) => {
        batchError = e;
      });
    });
    for (const p of paths) batcher.add(await target.nix.resolvePath(p));
    const rl = createInterface({ input: ctx.stdin, terminal: false });
    for await (const line of rl) {
      const p = line.trim();
      if (p) batcher.add(await target.nix.resolvePath(p));
    }
    await batcher.flush();
    if (batchError) throw batchError;
  }
  target.reporter.end();

  if (outcome.failed.length > 0) {
    const first = outcome.failed[0];
    const hint = first
      ? await conn.call("push", () => Promise.reject(first.error)).catch((e: HintedError) => e.hint)
      : undefined;
    throw new HintedError(new Error(`${outcome.failed.length} path(s) failed to push`), hint);
  }
  if (!flags.dryRun && outcome.uploaded === 0)
    ctx.stderr.write("✅ nothing to push, the cache already has everything\n");
  return 0;
}
