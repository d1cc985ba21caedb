/**
 * Object rows: a store path in one cache, pointing at a shared NAR (attic `database/mod.rs`:
 * `find_object_and_chunks_by_store_path_hash`, `bump_object_last_accessed`, and the upsert in
 * `api/v1/upload_path.rs`).
 */
import { and, eq, isNull, lt, or, sql } from "drizzle-orm";
import { isSqlite, sqliteRows } from "../dialect.ts";
import { parseJsonStringArray } from "../json-text.ts";
import { chunk, chunkref, type NarRow, nar, type ObjectRow, object } from "../schema.ts";
import { toDate, toDateOrNull } from "../sqlite-values.ts";
import { type Executor, ormOf, rawRows, rowsOf } from "./executor.ts";

export interface ObjectWithNar {
  object: ObjectRow;
  nar: NarRow;
}

export interface ObjectForDownload extends ObjectWithNar {
  /**
   * One entry per chunkref, in `seq` order; null where the chunk is gone (chunk_id NULL) or not
   * servable (state other than V). Its length can differ from `nar.numChunks` on a damaged database.
   */
  chunks: Array<ServableChunk | null>;
}

/** What serving a chunk needs from its row. */
export interface ServableChunk {
  id: number;
  remoteFile: string;
  remoteFileId: string;
  fileSize: number | null;
}

export interface UpsertObject {
  cacheId: number;
  narId: number;
  storePathHash: string;
  storePath: string;
  references: string[];
  deriver: string | null;
  sigs: string[];
  ca: string | null;
  createdBy: string | null;
}

/**
 * The object and its NAR, if the NAR is valid: everything a narinfo needs, in one round trip.
 * Every narinfo lookup runs this, so outside a transaction it is a named prepared statement mapped
 * by hand: drizzle's query building and row mapping cost more CPU than Postgres spent answering.
 */
export async function findObjectWithNar(
  db: Executor,
  cacheId: number,
  storePathHash: string,
): Promise<ObjectWithNar | null> {
  if (!("orm" in db)) {
    const rows = await ormOf(db)
      .select({ object, nar })
      .from(object)
      .innerJoin(nar, and(eq(nar.id, object.narId), eq(nar.state, "V")))
      .where(and(eq(object.cacheId, cacheId), eq(object.storePathHash, storePathHash)))
      .limit(1);
    return rows[0] ?? null;
  }
  const [row] = await db.query<ObjectWithNarRow>(
    OBJECT_WITH_NAR_SQL,
    [cacheId, storePathHash],
    "garret_object_with_nar",
  );
  return row === undefined ? null : objectWithNarOf(row);
}

const CHUNKS_FOR_DOWNLOAD_SQL = `
  SELECT c.id, c.remote_file, c.remote_file_id, c.file_size
  FROM chunkref r LEFT JOIN chunk c ON c.id = r.chunk_id AND c.state = 'V'
  WHERE r.nar_id = $1
  ORDER BY r.seq`;

const OBJECT_WITH_NAR_SQL = `
  SELECT o.id, o.cache_id, o.nar_id, o.store_path_hash, o.store_path, o."references", o.system,
    o.deriver, o.sigs, o.ca, o.created_at, o.last_accessed_at, o.created_by,
    n.state AS n_state, n.nar_hash AS n_nar_hash, n.nar_size AS n_nar_size,
    n.compression AS n_compression, n.holders_count AS n_holders_count,
    n.created_at AS n_created_at, n.num_chunks AS n_num_chunks, n.leased_at AS n_leased_at
  FROM object o JOIN nar n ON n.id = o.nar_id AND n.state = 'V'
  WHERE o.cache_id = $1 AND o.store_path_hash = $2
  LIMIT 1`;

interface ObjectWithNarRow extends ObjectRowText {
  n_state: NarRow["state"];
  n_nar_hash: string;
  n_nar_size: number | string;
  n_compression: string;
  n_holders_count: number;
  n_created_at: Date | string;
  n_num_chunks: number;
  n_leased_at: Date | string | null;
}

/** An object row as both drivers return it (ids and sizes may be text, times text on SQLite). */
interface ObjectRowText extends Record<string, unknown> {
  id: number | string;
  cache_id: number | string;
  nar_id: number | string;
  store_path_hash: string;
  store_path: string;
  references: string;
  system: string | null;
  deriver: string | null;
  sigs: string;
  ca: string | null;
  created_at: Date | string;
  last_accessed_at: Date | string | null;
  created_by: string | null;
}

function objectRowOf(r: ObjectRowText): ObjectRow {
  return {
    id: Number(r.id),
    cacheId: Number(r.cache_id),
    narId: Number(r.nar_id),
    storePathHash: r.store_path_hash,
    storePath: r.store_path,
    references: parseJsonStringArray(r.references),
    system: r.system,
    deriver: r.deriver,
    sigs: parseJsonStringArray(r.sigs),
    ca: r.ca,
    createdAt: toDate(r.created_at),
    lastAccessedAt: toDateOrNull(r.last_accessed_at),
    createdBy: r.created_by,
  };
}

function objectWithNarOf(r: ObjectWithNarRow): ObjectWithNar {
  const narId = Number(r.nar_id);
  return {
    object: objectRowOf(r),
    nar: {
      id: narId,
      state: r.n_state,
      narHash: r.n_nar_hash,
      narSize: Number(r.n_nar_size),
      compression: r.n_compression,
      holdersCount: r.n_holders_count,
      createdAt: toDate(r.n_created_at),
      numChunks: r.n_num_chunks,
      leasedAt: toDateOrNull(r.n_leased_at),
    },
  };
}

/**
 * The object, its valid NAR and the NAR's chunks in order. The chunk list is read with a lean
 * statement returning only what serving needs (a named prepared statement outside transactions):
 * mapping full rows through the ORM cost more than the query itself for NARs of thousands of chunks.
 */
export async function findObjectForDownload(
  db: Executor,
  cacheId: number,
  storePathHash: string,
): Promise<ObjectForDownload | null> {
  const found = await findObjectWithNar(db, cacheId, storePathHash);
  if (!found) return null;
  return { ...found, chunks: await findChunksForDownload(db, found.nar.id) };
}

/** The NAR's chunks in chunkref order; null where the chunk is missing or not valid. */
export async function findChunksForDownload(
  db: Executor,
  narId: number,
): Promise<Array<ServableChunk | null>> {
  // One row per chunkref; the chunk side is NULL when the chunk is missing or not valid.
  type Row = {
    id: number | string | null;
    remote_file: string | null;
    remote_file_id: string | null;
    file_size: number | string | null;
  };
  const rows =
    "orm" in db
      ? await db.query<Row>(CHUNKS_FOR_DOWNLOAD_SQL, [narId], "garret_chunks_for_download")
      : rowsOf<Row>(
          await ormOf(db).execute(sql`
            SELECT c.id, c.remote_file, c.remote_file_id, c.file_size
            FROM ${chunkref} r LEFT JOIN ${chunk} c ON c.id = r.chunk_id AND c.state = 'V'
            WHERE r.nar_id = ${narId}
            ORDER BY r.seq`),
        );
  return rows.map((r) =>
    r.id === null
      ? null
      : {
          id: Number(r.id),
          remoteFile: r.remote_file as string,
          remoteFileId: r.remote_file_id as string,
          fileSize: r.file_size === null ? null : Number(r.file_size),
        },
  );
}

/**
 * The de-duplicated subset of `storePathHashes` with no object in the cache, or whose object's NAR
 * lost a chunk (a chunkref without its chunk, or to one found damaged): reported missing, the client
 * pushes the path again, and the upload repairs it (atticd reports such a path present, and it stays
 * broken). One statement: the broken NARs come from two index lookups (chunkrefs whose chunk is
 * gone, tombstoned chunks), normally empty; then an anti-join probes idx-object-cache-hash per hash,
 * so the cost follows the request size rather than the cache size.
 */
export async function getMissingPaths(
  db: Executor,
  cacheId: number,
  storePathHashes: string[],
): Promise<string[]> {
  if (storePathHashes.length === 0) return [];
  if (isSqlite(db)) {
    const rows = await sqliteRows<{ hash: string }>(
      db,
      `SELECT DISTINCT t.value AS hash FROM json_each(?1) t
       WHERE NOT EXISTS (
         SELECT 1 FROM object o WHERE o.cache_id = ?2 AND o.store_path_hash = t.value
           AND o.nar_id NOT IN (
             SELECT r.nar_id FROM chunkref r WHERE r.chunk_id IS NULL
             UNION SELECT r.nar_id FROM chunk c JOIN chunkref r ON r.chunk_id = c.id WHERE c.state = 'D'))`,
      [storePathHashes, cacheId],
    );
    return rows.map((r) => r.hash);
  }
  const result = await ormOf(db).execute(sql`
    WITH broken AS MATERIALIZED (
      SELECT r.nar_id FROM ${chunkref} r WHERE r.chunk_id IS NULL
      UNION SELECT r.nar_id FROM ${chunk} c JOIN ${chunkref} r ON r.chunk_id = c.id WHERE c.state = 'D')
    SELECT DISTINCT t.h AS hash
    FROM unnest(${sql.param(storePathHashes)}::text[]) AS t(h)
    WHERE NOT EXISTS (
      SELECT 1 FROM ${object}
      WHERE ${object.cacheId} = ${cacheId} AND ${object.storePathHash} = t.h
        AND ${object.narId} NOT IN (SELECT nar_id FROM broken)
    )`);
  return rowsOf<{ hash: string }>(result).map((r) => r.hash);
}

/**
 * Inserts the object or replaces the one with the same (cache, store path hash), as atticd does on
 * every upload: the metadata is overwritten, created_at restarts now, last_accessed_at and system
 * are cleared.
 */
export async function upsertObject(db: Executor, input: UpsertObject): Promise<ObjectRow> {
  try {
    return await upsertObjectRow(db, input);
  } catch (err) {
    if (isSqlite(db) && isForeignKeyFailure(err)) {
      const [cache] = await sqliteRows(db, "SELECT 1 AS one FROM cache WHERE id = ?1", [input.cacheId]);
      if (!cache) throw cacheGoneError(err);
    }
    throw err;
  }
}

async function upsertObjectRow(db: Executor, input: UpsertObject): Promise<ObjectRow> {
  const [row] = await rawRows<ObjectRowText>(
    db,
    UPSERT_OBJECT_SQL,
    [
      input.cacheId,
      input.narId,
      input.storePathHash,
      input.storePath,
      JSON.stringify(input.references),
      input.deriver,
      JSON.stringify(input.sigs),
      input.ca,
      input.createdBy,
    ],
    "garret_upsert_object",
  );
  if (!row) throw new Error("upsertObject returned no row");
  return objectRowOf(row);
}

// Every upload runs it, so it is a plain statement (`rawRows`): building it through the ORM cost the
// upload's main thread more than the database spent on it.
const UPSERT_OBJECT_SQL = `
  INSERT INTO object (cache_id, nar_id, store_path_hash, store_path, "references", system, deriver, sigs, ca,
    created_at, last_accessed_at, created_by)
  VALUES ($1, $2, $3, $4, $5, NULL, $6, $7, $8, now(), NULL, $9)
  ON CONFLICT (cache_id, store_path_hash) DO UPDATE SET
    nar_id = excluded.nar_id, store_path = excluded.store_path, "references" = excluded."references",
    system = excluded.system, deriver = excluded.deriver, sigs = excluded.sigs, ca = excluded.ca,
    created_at = excluded.created_at, last_accessed_at = excluded.last_accessed_at,
    created_by = excluded.created_by
  RETURNING id, cache_id, nar_id, store_path_hash, store_path, "references", system, deriver, sigs, ca,
    created_at, last_accessed_at, created_by`;

/** SQLite's foreign key failure (SQLITE_CONSTRAINT_FOREIGNKEY), anywhere in the cause chain. */
function isForeignKeyFailure(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if ((e as { errcode?: unknown }).errcode === 787) return true;
  }
  return false;
}

/**
 * SQLite names no constraint when a foreign key fails: when the object's cache is gone (destroyed
 * while the upload ran), the error says so as Postgres's does (23503 on fk_object_cache), so the
 * caller sees one error for both engines.
 */
function cacheGoneError(cause: unknown): Error {
  return Object.assign(
    new Error('insert or update on table "object" violates foreign key constraint "fk_object_cache"', {
      cause,
    }),
    { code: "23503", constraint: "fk_object_cache" },
  );
}

/**
 * Records NAR downloads for a batch of objects in one statement. Never moves a timestamp backwards,
 * so batches flushed out of order are harmless.
 */
export async function bumpLastAccessed(db: Executor, objectIds: number[], at: Date): Promise<void> {
  if (objectIds.length === 0) return;
  if (isSqlite(db)) {
    await sqliteRows(
      db,
      `UPDATE object SET last_accessed_at = ?2
       WHERE id IN (SELECT value FROM json_each(?1)) AND (last_accessed_at IS NULL OR last_accessed_at < ?2)`,
      [objectIds, at],
    );
    return;
  }
  await ormOf(db)
    .update(object)
    .set({ lastAccessedAt: at })
    .where(
      and(
        sql`${object.id} = ANY(${sql.param(objectIds)}::bigint[])`,
        or(isNull(object.lastAccessedAt), lt(object.lastAccessedAt, at)),
      ),
    );
}
