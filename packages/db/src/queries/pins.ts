/**
 * Pins (`garret_pin`, migration 0004): named GC roots per cache. A pin lists store paths; while it
 * has not expired, those paths and their closure in the cache are immune to retention.
 *
 *   (cache_id 3, name 'release-24.05', store_paths {/nix/store/0c2b…-hello-2.12}, store_path_hashes
 *    {0c2b…}, expires_at NULL, created_at, updated_at, created_by 'ci')
 */
import { sql } from "drizzle-orm";
import { isSqlite } from "../dialect.ts";
import { parseJsonStringArray } from "../json-text.ts";
import { type Executor, ormOf, rowsOf } from "./executor.ts";

export interface PinRow {
  cacheId: number;
  name: string;
  storePaths: string[];
  expiresAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
  createdBy: string | null;
}

export interface PinInput {
  cacheId: number;
  name: string;
  storePaths: string[];
  /** The hash part of each store path, in the same order. */
  storePathHashes: string[];
  expiresAt: Date | null;
  createdBy: string | null;
}

interface RawPin extends Record<string, unknown> {
  cache_id: number | string;
  name: string;
  /** A text[] on Postgres, JSON text on SQLite. */
  store_paths: string[] | string;
  expires_at: Date | string | null;
  created_at: Date | string;
  updated_at: Date | string;
  created_by: string | null;
}

const COLUMNS = sql.raw("cache_id, name, store_paths, expires_at, created_at, updated_at, created_by");

function pinOf(r: RawPin): PinRow {
  return {
    cacheId: Number(r.cache_id),
    name: r.name,
    storePaths: typeof r.store_paths === "string" ? parseJsonStringArray(r.store_paths) : r.store_paths,
    expiresAt: r.expires_at === null ? null : new Date(r.expires_at),
    createdAt: new Date(r.created_at),
    updatedAt: new Date(r.updated_at),
    createdBy: r.created_by,
  };
}

/** Creates the pin or replaces its paths and expiry (created_at and created_by stay). */
/** A list of texts as the column type wants it. */
function textArray(db: Executor, values: string[]) {
  return isSqlite(db) ? sql`${JSON.stringify(values)}` : sql`${sql.param(values)}::text[]`;
}

export async function upsertPin(db: Executor, pin: PinInput): Promise<PinRow> {
  const result = await ormOf(db).execute(sql`
    INSERT INTO garret_pin (cache_id, name, store_paths, store_path_hashes, expires_at, created_at, updated_at, created_by)
    VALUES (${pin.cacheId}, ${pin.name}, ${textArray(db, pin.storePaths)}, ${textArray(db, pin.storePathHashes)},
            ${pin.expiresAt}, now(), now(), ${pin.createdBy})
    ON CONFLICT (cache_id, name) DO UPDATE SET
      store_paths = excluded.store_paths, store_path_hashes = excluded.store_path_hashes,
      expires_at = excluded.expires_at, updated_at = excluded.updated_at
    RETURNING ${COLUMNS}`);
  const row = rowsOf<RawPin>(result)[0];
  if (!row) throw new Error("upsertPin returned no row");
  return pinOf(row);
}

export async function findPin(db: Executor, cacheId: number, name: string): Promise<PinRow | null> {
  const result = await ormOf(db).execute(
    sql`SELECT ${COLUMNS} FROM garret_pin WHERE cache_id = ${cacheId} AND name = ${name}`,
  );
  const row = rowsOf<RawPin>(result)[0];
  return row ? pinOf(row) : null;
}

export async function listPins(db: Executor, cacheId: number): Promise<PinRow[]> {
  const result = await ormOf(db).execute(
    sql`SELECT ${COLUMNS} FROM garret_pin WHERE cache_id = ${cacheId} ORDER BY name`,
  );
  return rowsOf<RawPin>(result).map(pinOf);
}

export async function deletePin(db: Executor, cacheId: number, name: string): Promise<boolean> {
  const result = await ormOf(db).execute(
    sql`DELETE FROM garret_pin WHERE cache_id = ${cacheId} AND name = ${name} RETURNING name`,
  );
  return rowsOf(result).length > 0;
}
