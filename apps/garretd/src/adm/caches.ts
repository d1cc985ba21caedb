/**
 * `garretadm caches`: the caches in the database with their sizes (garret extension).
 *
 *     garretadm caches list [--json]
 *     garretadm caches show <NAME> [--json]
 *
 * Sizes walk each cache's objects (the per-cache statistics of `GET /_api/v1/caches/{cache}/stats`),
 * so `list` costs in proportion to the whole database. Soft-deleted caches are not shown.
 */
import { type OptionSpecs, parseOptions } from "@garret/cli";
import { type Db, findCache, getCacheSettings, getCacheStats, getLastGcRun, listCaches } from "@garret/db";
import { formatBytes } from "../routes/status-page-html.ts";
import { type AdmCommand, type AdmContext, AdmError, UsageError } from "./command.ts";

const USAGE = `Usage: garretadm caches <list|show> [OPTIONS]

Lists caches and their sizes.

  garretadm caches list [--json]
      One line per cache: name, visibility, paths, NAR bytes (uncompressed), stored bytes
      (chunks after deduplication and compression) and the dedup ratio

  garretadm caches show <NAME> [--json]
      One cache's settings and sizes, and the last garbage collection

With an SQLite database, stop garretd first (one process at a time).
`;

const OPTIONS = {
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const satisfies OptionSpecs;

async function withDb<T>(ctx: AdmContext, fn: (db: Db) => Promise<T>): Promise<T> {
  const db = await ctx.openDatabase(ctx.loadConfig());
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

const ratio = (nar: number, stored: number) => (stored > 0 ? Math.round((nar / stored) * 100) / 100 : null);

export const cachesCommand: AdmCommand = {
  usage: USAGE,
  async run(args, ctx) {
    const [action, ...rest] = args;
    if (action === undefined) throw new UsageError("no action given: list or show");
    if (action === "-h" || action === "--help") {
      ctx.io.stdout(USAGE);
      return 0;
    }
    let parsed: { values: { json?: boolean; help?: boolean }; positionals: string[] };
    try {
      parsed = parseOptions(rest, OPTIONS, { allowPositionals: true }) as typeof parsed;
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const { values, positionals } = parsed;
    if (values.help) {
      ctx.io.stdout(USAGE);
      return 0;
    }
    if (action === "list") {
      if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
      const rows = await withDb(ctx, async (db) => {
        const out = [];
        for (const c of await listCaches(db)) {
          const s = await getCacheStats(db, c.id);
          out.push({
            name: c.name,
            public: c.isPublic,
            objects: s.objects,
            nar_bytes: s.narBytes,
            stored_bytes: s.storedBytes,
            dedup_ratio: ratio(s.narBytes, s.storedBytes),
          });
        }
        return out;
      });
      if (values.json) {
        ctx.io.stdout(`${JSON.stringify(rows, null, 2)}\n`);
        return 0;
      }
      if (rows.length === 0) {
        ctx.io.stdout("no caches\n");
        return 0;
      }
      const table = [
        ["NAME", "VISIBILITY", "PATHS", "NAR SIZE", "STORED", "DEDUP"],
        ...rows.map((r) => [
          r.name,
          r.public ? "public" : "private",
          String(r.objects),
          formatBytes(r.nar_bytes),
          formatBytes(r.stored_bytes),
          r.dedup_ratio === null ? "-" : `${r.dedup_ratio.toFixed(2)}x`,
        ]),
      ];
      const widths = (table[0] as string[]).map((_, i) =>
        Math.max(...table.map((row) => (row[i] ?? "").length)),
      );
      const lines = table.map((row) =>
        row
          .map((cell, i) => (i >= 2 ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
          .join("  "),
      );
      ctx.io.stdout(`${lines.map((l) => l.trimEnd()).join("\n")}\n`);
      return 0;
    }
    if (action === "show") {
      const [name, extra] = positionals;
      if (name === undefined) throw new UsageError("give a cache name: garretadm caches show <NAME>");
      if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`);
      const shown = await withDb(ctx, async (db) => {
        const cache = await findCache(db, name);
        if (!cache) return null;
        const [stats, settings, lastGc] = await Promise.all([
          getCacheStats(db, cache.id),
          getCacheSettings(db, cache.id),
          getLastGcRun(db),
        ]);
        return {
          name: cache.name,
          public: cache.isPublic,
          store_dir: cache.storeDir,
          priority: cache.priority,
          upstream_cache_key_names: cache.upstreamCacheKeyNames,
          retention_period: cache.retentionPeriod,
          closure_retention: settings.closureRetention,
          created_at: cache.createdAt.toISOString(),
          objects: stats.objects,
          nar_bytes: stats.narBytes,
          chunks: stats.chunks,
          stored_bytes: stats.storedBytes,
          dedup_ratio: ratio(stats.narBytes, stats.storedBytes),
          pins: stats.pins,
          last_gc: lastGc && {
            finished_at: lastGc.finishedAt.toISOString(),
            objects: lastGc.objects,
            nars: lastGc.nars,
            chunks: lastGc.chunks,
            bytes: lastGc.bytes,
          },
        };
      });
      if (!shown) throw new AdmError(`no cache named "${name}"`);
      if (values.json) {
        ctx.io.stdout(`${JSON.stringify(shown, null, 2)}\n`);
        return 0;
      }
      const retention = shown.retention_period === null ? "server default" : `${shown.retention_period} s`;
      ctx.io.stdout(
        `${[
          `name:               ${shown.name}`,
          `visibility:         ${shown.public ? "public" : "private"}`,
          `store dir:          ${shown.store_dir}`,
          `priority:           ${shown.priority}`,
          `upstream keys:      ${shown.upstream_cache_key_names.join(", ") || "-"}`,
          `retention:          ${retention}${shown.closure_retention ? ", closure-aware" : ""}`,
          `created:            ${shown.created_at}`,
          `paths:              ${shown.objects}`,
          `NAR size:           ${formatBytes(shown.nar_bytes)} (${shown.nar_bytes} bytes)`,
          `stored:             ${formatBytes(shown.stored_bytes)} in ${shown.chunks} chunks`,
          `dedup ratio:        ${shown.dedup_ratio === null ? "-" : `${shown.dedup_ratio.toFixed(2)}x`}`,
          `pins:               ${shown.pins}`,
          `last GC:            ${
            shown.last_gc
              ? `${shown.last_gc.finished_at}, freed ${formatBytes(shown.last_gc.bytes)}`
              : "never"
          }`,
        ].join("\n")}\n`,
      );
      return 0;
    }
    throw new UsageError(`unknown action "${action}": list or show`);
  },
};
