/**
 * `garret delete CACHE PATH...` (garret extension): `DELETE /{cache}/{hash}.narinfo` for each path,
 * which needs the `d` permission. The path leaves the cache at once; its data goes at the next GC
 * unless another object shares it. Paths are resolved like `push` resolves them (`./result` works)
 * and need not exist locally; a bare 32-character store path hash is accepted too.
 * A path the cache does not have is reported and skipped: the outcome the user asked for holds.
 */
import { STORE_PATH_HASH_PATTERN } from "@garret/protocol";
import { ApiError } from "../api-client.ts";
import { type CliContext, connect, HintedError } from "../context.ts";
import { NixCli } from "../nix-cli.ts";
import { parseStorePath } from "../store-path.ts";

export interface DeleteTarget {
  /** What the user gave, for messages. */
  arg: string;
  /** The store path, or the hash when that is all the user gave. */
  path: string;
  hash: string;
}

export async function resolveDeleteTargets(storeDir: string, args: string[]): Promise<DeleteTarget[]> {
  const nix = new NixCli(storeDir);
  const targets: DeleteTarget[] = [];
  const seen = new Set<string>();
  for (const arg of args) {
    let target: DeleteTarget;
    if (arg.length === 32 && STORE_PATH_HASH_PATTERN.test(arg)) {
      target = { arg, path: arg, hash: arg };
    } else {
      const path = await nix.resolvePath(arg);
      const parts = parseStorePath(path, storeDir);
      if (!parts) throw new Error(`${arg}: ${path} is not a valid store path`);
      target = { arg, path, hash: parts.hash };
    }
    if (seen.has(target.hash)) continue;
    seen.add(target.hash);
    targets.push(target);
  }
  return targets;
}

export async function deletePaths(
  ctx: CliContext,
  storeDir: string,
  cacheRef: string,
  args: string[],
): Promise<number> {
  const targets = await resolveDeleteTargets(storeDir, args);
  const conn = await connect(ctx, cacheRef);
  let deleted = 0;
  for (const t of targets) {
    try {
      await conn.call("delete", (c) => c.deletePath(conn.cache, t.hash));
    } catch (e) {
      const original = e instanceof HintedError ? e.original : e;
      if (original instanceof ApiError && original.body?.error === "NoSuchObject") {
        ctx.stderr.write(`⚠️  ${t.path} is not in "${conn.cache}"\n`);
        continue;
      }
      throw e;
    }
    deleted++;
    ctx.stderr.write(`🗑️  Deleted ${t.path}\n`);
  }
  ctx.stderr.write(`Deleted ${deleted} of ${targets.length} path(s) from "${conn.cache}"\n`);
  return 0;
}
