/**
 * `garret watch-store CACHE [-j N] [--ignore-upstream-cache-filter] [--no-closure] [--force-preamble] [--attic-api]`
 * (attic `client/src/command/watch_store.rs`). Nix creates `<path>.lock` while it builds or
 * substitutes a path and removes it once the path is valid, so the removal of a lock file in the
 * store directory (watched non-recursively) is the signal to push `<path>`. `.drv` files and
 * `-source` trees are skipped, as attic does. Failed batches (server down, 5xx after retries) are
 * queued again with backoff; the command runs until SIGINT/SIGTERM.
 */
import { watch } from "node:fs";
import { access } from "node:fs/promises";
import { join } from "node:path";
import { Batcher } from "../batcher.ts";
import { type CliContext, type Connection, connect, HintedError } from "../context.ts";
import { planPush, reportPlan, uploadPaths } from "../push.ts";
import { backoffDelay } from "../retry.ts";
import { parseStorePath } from "../store-path.ts";
import { preparePush } from "./push.ts";

export interface WatchFlags {
  jobs: number;
  ignoreUpstreamCacheFilter: boolean;
  noClosure: boolean;
  forcePreamble: boolean;
  atticApi: boolean;
}

const RECONNECT = { attempts: Number.POSITIVE_INFINITY, baseMs: 1000, maxMs: 30_000 };

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** The store path whose lock file `name` is, or null for files watch-store ignores. */
export function pathForLockFile(name: string, storeDir: string): string | null {
  if (!name.endsWith(".lock")) return null;
  const path = join(storeDir, name.slice(0, -".lock".length));
  if (path.endsWith(".drv") || path.endsWith("-source")) return null;
  return parseStorePath(path, storeDir) ? path : null;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}

/** Reads the cache config, waiting out an unreachable server instead of failing. */
async function prepareWithReconnect(ctx: CliContext, conn: Connection, storeDir: string, flags: WatchFlags) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await preparePush(ctx, conn, storeDir, flags);
    } catch (e) {
      if (ctx.signal.aborted) return null;
      const status = e instanceof HintedError && (e.original as { status?: number }).status;
      if (typeof status === "number" && status < 500) throw e;
      const delay = backoffDelay(attempt, RECONNECT, Math.random);
      ctx.stderr.write(
        `⚠️  cannot reach the server (${(e as Error).message}); retrying in ${(delay / 1000).toFixed(1)} s\n`,
      );
      await sleep(delay, ctx.signal);
    }
  }
}

export async function watchStore(
  ctx: CliContext,
  storeDir: string,
  cacheRef: string,
  flags: WatchFlags,
): Promise<number> {
  const conn = await connect(ctx, cacheRef);
  const target = await prepareWithReconnect(ctx, conn, storeDir, flags);
  if (!target || ctx.signal.aborted) return 0;
  const handled = new Set<string>();
  let failures = 0;

  const batcher: Batcher<string> = new Batcher<string>(async (roots) => {
    const before = new Set(handled);
    try {
      const plan = await conn.call("push", () => planPush(target, roots, handled));
      reportPlan(target, plan);
      const outcome = await uploadPaths(target, plan.toUpload);
      target.reporter.end();
      if (outcome.failed.length === 0) {
        failures = 0;
        return;
      }
      for (const f of outcome.failed) handled.delete(parseStorePath(f.path, storeDir)?.hash ?? "");
      requeue(outcome.failed.map((f) => f.path));
    } catch (e) {
      handled.clear();
      for (const h of before) handled.add(h);
      ctx.stderr.write(`❌ push of ${roots.length} path(s) failed: ${(e as Error).message}\n`);
      if (e instanceof HintedError && e.hint) ctx.stderr.write(`${e.hint}\n`);
      requeue(roots);
    }
  });

  const requeue = (paths: string[]) => {
    const delay = backoffDelay(failures++, RECONNECT, Math.random);
    ctx.stderr.write(`↻ retrying ${paths.length} path(s) in ${(delay / 1000).toFixed(1)} s\n`);
    const t = setTimeout(() => {
      for (const p of paths) batcher.add(p);
    }, delay);
    ctx.signal.addEventListener("abort", () => clearTimeout(t), { once: true });
  };

  const watcher = watch(storeDir, { persistent: true }, (_event, filename) => {
    if (!filename) return;
    const path = pathForLockFile(filename.toString(), storeDir);
    if (!path) return;
    void (async () => {
      if (await exists(join(storeDir, filename.toString()))) return;
      if (!(await exists(path))) return;
      batcher.add(path);
    })();
  });
  ctx.stderr.write(
    `👀 watching ${storeDir} for new paths to push to "${conn.cache}" on "${conn.serverName}"\n`,
  );

  await new Promise<void>((resolve) => {
    if (ctx.signal.aborted) resolve();
    ctx.signal.addEventListener("abort", () => resolve(), { once: true });
  });
  watcher.close();
  ctx.stderr.write("stopping: finishing queued uploads (interrupt again to quit now)\n");
  await batcher.flush();
  return 0;
}
