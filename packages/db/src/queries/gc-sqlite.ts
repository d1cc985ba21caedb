/**
 * The collector's statements in SQLite's dialect, phase for phase those of `GC_SQL` (gc.ts), which
 * says what each one is for. What differs: id lists arrive as JSON text (`json_each`); a single
 * writer makes row locks unnecessary (a transaction sees no concurrent change); statements that
 * modify two tables on Postgres (data-modifying CTEs) are two statements in one transaction here;
 * closure checks search the JSON text of `references` (no GIN index on SQLite: they scan the
 * cache's objects, which an embedded deployment's sizes afford).
 */
import { GC_BATCH } from "./gc-batch.ts";

/** `/nix/store/<base>` → `<base>`: what follows the last slash. */
const BASE_NAME = "substr(o.store_path, length(rtrim(o.store_path, replace(o.store_path, '/', ''))) + 1)";
/** The later of created_at and last_accessed_at, as indexed by `garret-idx-object-cache-last-use`. */
const LAST_USE = "max(o.created_at, coalesce(o.last_accessed_at, o.created_at))";
/** Whether object `y` references base name `base`. */
const REFERENCES = (base: string) => `instr(y."references", '"' || ${base} || '"') > 0`;
const IDS = (n: number) => `(SELECT value FROM json_each(?${n}))`;

export const GC_SQLITE = {
  createExpired: `
    CREATE TEMP TABLE IF NOT EXISTS garret_gc_expired (
      id integer PRIMARY KEY, cache_id integer NOT NULL, hash text NOT NULL, base text NOT NULL,
      cutoff text NOT NULL, closure integer NOT NULL);
    CREATE INDEX IF NOT EXISTS temp.garret_gc_expired_cache_hash ON garret_gc_expired (cache_id, hash);
    DELETE FROM garret_gc_expired`,

  expiringCaches: `
    SELECT c.id, COALESCE(c.retention_period, ?1) AS retention, COALESCE(s.closure_retention, 0) AS closure
    FROM cache c LEFT JOIN garret_cache_settings s ON s.cache_id = c.id
    WHERE COALESCE(c.retention_period, ?1) > 0`,

  fillExpired: `
    INSERT INTO garret_gc_expired (id, cache_id, hash, base, cutoff, closure)
    SELECT o.id, o.cache_id, o.store_path_hash, ${BASE_NAME}, ?2, ?3
    FROM object o
    WHERE o.cache_id = ?1 AND ${LAST_USE} < ?2`,

  protectPinned: `
    DELETE FROM garret_gc_expired WHERE id IN (
      WITH RECURSIVE pinned(id) AS (
        SELECT o.id
        FROM garret_pin p, json_each(p.store_path_hashes) h
        JOIN object o ON o.cache_id = p.cache_id AND o.store_path_hash = h.value
        WHERE p.expires_at IS NULL OR p.expires_at > ?1
        UNION
        SELECT o.id
        FROM pinned k JOIN object p ON p.id = k.id, json_each(p."references") ref
        JOIN object o ON o.cache_id = p.cache_id AND o.store_path_hash = substr(ref.value, 1, 32))
      SELECT id FROM pinned)`,

  protectClosures: `
    DELETE FROM garret_gc_expired WHERE id IN (
      WITH RECURSIVE kept(id) AS (
        SELECT x.id FROM garret_gc_expired x
        WHERE x.closure AND EXISTS (
          SELECT 1 FROM object y
          WHERE y.cache_id = x.cache_id AND y.id <> x.id AND ${REFERENCES("x.base")}
            AND NOT EXISTS (SELECT 1 FROM garret_gc_expired z WHERE z.id = y.id))
        UNION
        SELECT x.id
        FROM kept k JOIN object p ON p.id = k.id, json_each(p."references") ref
        JOIN garret_gc_expired x ON x.cache_id = p.cache_id AND x.hash = substr(ref.value, 1, 32))
      SELECT id FROM kept)`,

  countExpired: "SELECT count(*) AS n FROM garret_gc_expired",

  deleteExpired: `
    DELETE FROM object WHERE id IN (
      SELECT b.id FROM (SELECT * FROM garret_gc_expired ORDER BY id LIMIT ${GC_BATCH}) b
      JOIN object o ON o.id = b.id
      WHERE ${LAST_USE} < b.cutoff
        AND NOT (b.closure AND EXISTS (
          SELECT 1 FROM object y
          WHERE y.cache_id = b.cache_id AND y.id <> b.id AND ${REFERENCES("b.base")}
            AND NOT EXISTS (SELECT 1 FROM garret_gc_expired z WHERE z.id = y.id))))
    RETURNING id`,

  dequeueExpired: `
    DELETE FROM garret_gc_expired WHERE id IN (SELECT id FROM garret_gc_expired ORDER BY id LIMIT ${GC_BATCH})
    RETURNING id`,

  nextNarCandidates: `SELECT nar_id AS id FROM garret_gc_nar_candidate WHERE nar_id > ?1 ORDER BY nar_id LIMIT ${GC_BATCH}`,

  lockNars: `SELECT id FROM nar WHERE id IN ${IDS(1)} AND state = 'V' AND holders_count = 0`,

  queueChunksOfUnusedNars: `
    INSERT OR IGNORE INTO garret_gc_chunk_candidate (chunk_id)
    SELECT DISTINCT r.chunk_id FROM chunkref r
    WHERE r.nar_id IN ${IDS(1)} AND r.chunk_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM object o WHERE o.nar_id = r.nar_id)`,

  deleteUnusedNars: `
    DELETE FROM nar WHERE id IN ${IDS(1)} AND NOT EXISTS (SELECT 1 FROM object o WHERE o.nar_id = nar.id)
    RETURNING id`,

  dequeueNars: `
    DELETE FROM garret_gc_nar_candidate WHERE nar_id IN ${IDS(1)}
      AND NOT (nar_id NOT IN ${IDS(2)}
               AND EXISTS (SELECT 1 FROM nar n WHERE n.id = garret_gc_nar_candidate.nar_id AND n.state = 'V'))`,

  lockStalePendingNars: `SELECT id FROM nar WHERE state = 'P' AND created_at < ?1 ORDER BY id LIMIT ${GC_BATCH}`,

  queueChunksOfNars: `
    INSERT OR IGNORE INTO garret_gc_chunk_candidate (chunk_id)
    SELECT DISTINCT r.chunk_id FROM chunkref r WHERE r.nar_id IN ${IDS(1)} AND r.chunk_id IS NOT NULL`,

  deletePendingNars: `DELETE FROM nar WHERE id IN ${IDS(1)} AND state = 'P' RETURNING id`,

  queueRecentOrphanChunks: `
    INSERT OR IGNORE INTO garret_gc_chunk_candidate (chunk_id)
    SELECT c.id FROM chunk c
    WHERE c.state = 'V' AND c.created_at >= ?1 AND c.holders_count = 0
      AND NOT EXISTS (SELECT 1 FROM chunkref r WHERE r.chunk_id = c.id)`,

  queueOrphanNars: `
    INSERT OR IGNORE INTO garret_gc_nar_candidate (nar_id)
    SELECT n.id FROM nar n WHERE n.state = 'V' AND NOT EXISTS (SELECT 1 FROM object o WHERE o.nar_id = n.id)`,

  nextChunkCandidates: `SELECT chunk_id AS id FROM garret_gc_chunk_candidate WHERE chunk_id > ?1 ORDER BY chunk_id LIMIT ${GC_BATCH}`,

  lockChunks: `SELECT id FROM chunk WHERE id IN ${IDS(1)} AND state = 'V' AND holders_count = 0`,

  tombstoneChunks: `
    UPDATE chunk SET state = 'D'
    WHERE id IN ${IDS(1)} AND NOT EXISTS (SELECT 1 FROM chunkref r WHERE r.chunk_id = chunk.id)
    RETURNING id`,

  dequeueChunks: `
    DELETE FROM garret_gc_chunk_candidate WHERE chunk_id IN ${IDS(1)}
      AND NOT (chunk_id NOT IN ${IDS(2)}
               AND EXISTS (SELECT 1 FROM chunk c WHERE c.id = garret_gc_chunk_candidate.chunk_id AND c.state = 'V'))`,

  tombstoneStalePendingChunks: `
    UPDATE chunk SET state = 'D' WHERE id IN (
      SELECT id FROM chunk WHERE state = 'P' AND COALESCE(leased_at, created_at) < ?1 ORDER BY id LIMIT ${GC_BATCH})
    RETURNING id`,

  nextTombstones: `
    SELECT id, remote_file, file_size FROM chunk WHERE state = 'D' AND id > ?1 ORDER BY id LIMIT ${GC_BATCH}`,

  deleteTombstones: `DELETE FROM chunk WHERE id IN ${IDS(1)} AND state = 'D'`,

  estimate: `
    WITH cand_nar AS (
       SELECT nar_id AS id FROM garret_gc_nar_candidate
       UNION SELECT o.nar_id FROM garret_gc_expired x JOIN object o ON o.id = x.id
       UNION SELECT n.id FROM nar n WHERE ?3 AND n.state = 'V'),
     dead_nar AS (
       SELECT n.id FROM nar n JOIN cand_nar c ON c.id = n.id
       WHERE n.state = 'V' AND n.holders_count = 0
         AND NOT EXISTS (SELECT 1 FROM object o WHERE o.nar_id = n.id
                         AND NOT EXISTS (SELECT 1 FROM garret_gc_expired x WHERE x.id = o.id))
       UNION SELECT n.id FROM nar n WHERE n.state = 'P' AND n.created_at < ?2),
     cand_chunk AS (
       SELECT chunk_id AS id FROM garret_gc_chunk_candidate
       UNION SELECT r.chunk_id FROM chunkref r JOIN dead_nar d ON d.id = r.nar_id WHERE r.chunk_id IS NOT NULL
       UNION SELECT c.id FROM chunk c WHERE c.state = 'V' AND c.created_at >= ?1),
     dead_chunk AS (
       SELECT c.id, c.file_size FROM chunk c JOIN cand_chunk k ON k.id = c.id
       WHERE c.state = 'V' AND c.holders_count = 0
         AND NOT EXISTS (SELECT 1 FROM chunkref r WHERE r.chunk_id = c.id
                         AND NOT EXISTS (SELECT 1 FROM dead_nar d WHERE d.id = r.nar_id))
       UNION ALL SELECT c.id, c.file_size FROM chunk c WHERE c.state = 'D'
       UNION ALL SELECT c.id, c.file_size FROM chunk c WHERE c.state = 'P' AND COALESCE(c.leased_at, c.created_at) < ?2)
     SELECT (SELECT count(*) FROM dead_nar) AS nars, (SELECT count(*) FROM dead_chunk) AS chunks,
            (SELECT COALESCE(sum(file_size), 0) FROM dead_chunk) AS bytes`,
} as const;
