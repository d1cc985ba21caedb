/**
 * garret's per-cache settings (`garret_cache_settings`, migration 0004), kept apart from atticd's
 * `cache` table so atticd can still use the database. A cache without a row (adopted from atticd)
 * has every setting at its atticd-compatible default: no closure-aware retention.
 */
import { sql } from "drizzle-orm";
import { toBoolean } from "../sqlite-values.ts";
import { type Executor, ormOf, rowsOf } from "./executor.ts";

export interface CacheSettings {
  /** Kept objects keep what they reference in the same cache. */
  closureRetention: boolean;
}

export const ATTICD_CACHE_SETTINGS: Readonly<CacheSettings> = { closureRetention: false };

export async function getCacheSettings(db: Executor, cacheId: number): Promise<CacheSettings> {
  const result = await ormOf(db).execute(
    sql`SELECT closure_retention FROM garret_cache_settings WHERE cache_id = ${cacheId}`,
  );
  const row = rowsOf<{ closure_retention: boolean | number }>(result)[0];
  return row ? { closureRetention: toBoolean(row.closure_retention) } : { ...ATTICD_CACHE_SETTINGS };
}

export async function setCacheSettings(
  db: Executor,
  cacheId: number,
  settings: CacheSettings,
): Promise<void> {
  await ormOf(db).execute(sql`
    INSERT INTO garret_cache_settings (cache_id, closure_retention) VALUES (${cacheId}, ${settings.closureRetention})
    ON CONFLICT (cache_id) DO UPDATE SET closure_retention = excluded.closure_retention`);
}
