/**
 * Drizzle definitions of atticd's database, exactly as its 15 SeaORM migrations leave it on Postgres
 * (attic `server/src/database/entity/*.rs` and `migration/*.rs`, final state after
 * `m20260624_000001_remove_chunk_recovery`), plus the indexes garret adds in `0002_garret_base.sql`.
 *
 * Table, column, constraint and index names, SQL types and defaults are atticd's, so garret can run on
 * a database atticd created and hand one back. The DDL itself lives in `migrations/*.sql`; this file
 * is what queries are typed against, and `schema.test.ts` checks the two agree.
 *
 * atticd writes `created_at` from the application (its columns have no DEFAULT), so inserts here set
 * it explicitly to the database clock.
 *
 * Sample rows (as atticd writes them):
 *   nar   (1, 'V', 'sha256:baeabdb7…5a42', 144, 'zstd', 1, 0, '2026-01-01 00:00:00+00')
 *   chunk (1, 'V', 'sha256:baeabdb7…5a42', 144, 'sha256:…', 93, 'zstd',
 *          '{"Local":{"name":"0b6e….chunk"}}', 'local:0b6e….chunk', 0, now)
 */

import { sql } from "drizzle-orm";
import {
  bigint,
  bigserial,
  char,
  customType,
  foreignKey,
  index,
  integer,
  pgTable,
  timestamp,
  unique,
  uniqueIndex,
  varchar,
} from "drizzle-orm/pg-core";
import { jsonStringArray } from "./json-text.ts";

/**
 * `nar.state` values (atticd `NarState`).
 * - `V` Valid: complete and servable; the only state reads, dedup and GC look at.
 *   Reached from `P` when a chunked upload commits, or inserted directly for an unchunked upload.
 * - `P` PendingUpload: a chunked upload is streaming chunks into it. Becomes `V` on success; deleted
 *   (chunkrefs cascade) on failure. A crash leaves it behind; garret's reaper deletes old ones.
 * - `C` ConfirmedDeduplicated: defined by atticd, never written.
 * - `D` Deleted: defined by atticd, never written.
 */
export const NAR_STATES = ["V", "P", "C", "D"] as const;
export type NarState = (typeof NAR_STATES)[number];

/**
 * `chunk.state` values (atticd `ChunkState`).
 * - `V` Valid: the file is fully in storage; dedup and NAR serving use only these.
 *   Reached from `P` once the upload of the compressed file finished and was hashed.
 * - `P` PendingUpload: the row exists before its storage file does, so a crash leaves a row that
 *   points at a missing or partial file. Becomes `V`, or is deleted together with its file.
 * - `C` ConfirmedDeduplicated: defined by atticd, never written.
 * - `D` Deleted: GC tombstone. A `V` chunk with no holders and no chunkref is marked `D` first, then
 *   its file is deleted, then the row; a failed file deletion leaves it `D` for the next run.
 */
export const CHUNK_STATES = ["V", "P", "C", "D"] as const;
export type ChunkState = (typeof CHUNK_STATES)[number];

/** `bool`, read back from Postgres drivers as a boolean and from SQLite as 0/1. */
const boolean = customType<{ data: boolean; driverData: boolean | number }>({
  dataType() {
    return "boolean";
  },
  fromDriver(value) {
    return value === true || value === 1;
  },
});

const timestamptz = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });

export const cache = pgTable(
  "cache",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    name: varchar("name", { length: 50 }).notNull(),
    /** Secret signing key, `"<name>:" + base64(64 bytes)`. */
    keypair: varchar("keypair").notNull(),
    isPublic: boolean("is_public").notNull(),
    storeDir: varchar("store_dir").notNull(),
    priority: integer("priority").notNull(),
    upstreamCacheKeyNames: jsonStringArray("upstream_cache_key_names").notNull(),
    createdAt: timestamptz("created_at").notNull(),
    /** Set by soft deletion; the name stays taken. */
    deletedAt: timestamptz("deleted_at"),
    /** Seconds; NULL means the server's default retention period. */
    retentionPeriod: integer("retention_period"),
  },
  (t) => [unique("cache_name_key").on(t.name), index("idx-cache-name").on(t.name)],
);

export const nar = pgTable(
  "nar",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    state: char("state", { length: 1, enum: NAR_STATES }).notNull(),
    /** `sha256:` + 64 lowercase hex chars of the uncompressed NAR. */
    narHash: varchar("nar_hash").notNull(),
    narSize: bigint("nar_size", { mode: "number" }).notNull(),
    /** Nix compression name of every chunk: `none`, `zstd`, `xz` or `br`. */
    compression: varchar("compression").notNull(),
    holdersCount: integer("holders_count").notNull().default(0),
    createdAt: timestamptz("created_at").notNull(),
    numChunks: integer("num_chunks").notNull().default(1),
    /** garret (0007): when the latest lease was taken; GC resets leases older than its grace period. */
    leasedAt: timestamptz("leased_at"),
  },
  (t) => [
    index("idx-nar-nar-hash").on(t.narHash),
    index("idx-nar-state-holders").on(t.state, t.holdersCount),
    // garret (0002): reaping stale `P` rows by age.
    index("garret-idx-nar-state-created-at").on(t.state, t.createdAt),
    index("garret-idx-nar-held").on(t.leasedAt).where(sql`holders_count > 0`),
  ],
);

export const object = pgTable(
  "object",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    cacheId: bigint("cache_id", { mode: "number" }).notNull(),
    narId: bigint("nar_id", { mode: "number" }).notNull(),
    storePathHash: varchar("store_path_hash", { length: 32 }).notNull(),
    storePath: varchar("store_path").notNull(),
    /** Base names (`<hash>-<name>`), in upload order. */
    references: jsonStringArray("references").notNull(),
    system: varchar("system"),
    deriver: varchar("deriver"),
    /** Signatures the uploader had locally; stored, never served. */
    sigs: jsonStringArray("sigs").notNull(),
    ca: varchar("ca"),
    createdAt: timestamptz("created_at").notNull(),
    lastAccessedAt: timestamptz("last_accessed_at"),
    /** Token subject of the uploader; NULL for anonymous uploads. */
    createdBy: varchar("created_by"),
  },
  (t) => [
    foreignKey({ name: "fk_object_cache", columns: [t.cacheId], foreignColumns: [cache.id] }).onDelete(
      "cascade",
    ),
    foreignKey({ name: "fk_object_nar", columns: [t.narId], foreignColumns: [nar.id] }).onDelete("cascade"),
    uniqueIndex("idx-object-cache-hash").on(t.cacheId, t.storePathHash),
    // garret (0002): orphan-NAR detection and retention expiry.
    index("garret-idx-object-nar-id").on(t.narId),
    index("garret-idx-object-cache-created-at").on(t.cacheId, t.createdAt),
  ],
);

export const chunk = pgTable(
  "chunk",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    state: char("state", { length: 1, enum: CHUNK_STATES }).notNull(),
    /** `sha256:<hex>` of the uncompressed chunk. */
    chunkHash: varchar("chunk_hash").notNull(),
    chunkSize: bigint("chunk_size", { mode: "number" }).notNull(),
    /** `sha256:<hex>` of the stored (compressed) file; NULL while pending. */
    fileHash: varchar("file_hash"),
    fileSize: bigint("file_size", { mode: "number" }),
    compression: varchar("compression").notNull(),
    /** Storage location as externally tagged JSON, e.g. `{"Local":{"name":"<uuid>.chunk"}}`. */
    remoteFile: varchar("remote_file").notNull(),
    /** Unique location key, e.g. `local:<uuid>.chunk` or `s3:<region>/<bucket>/<key>`. */
    remoteFileId: varchar("remote_file_id").notNull(),
    holdersCount: integer("holders_count").notNull().default(0),
    createdAt: timestamptz("created_at").notNull(),
    /** garret (0007): when the latest lease was taken; GC resets leases older than its grace period. */
    leasedAt: timestamptz("leased_at"),
  },
  (t) => [
    unique("chunk_remote_file_id_key").on(t.remoteFileId),
    index("idx-chunk-chunk-hash").on(t.chunkHash),
    index("idx-chunk-state-holders").on(t.state, t.holdersCount),
    // garret (0002): reaping stale `P` rows by age.
    index("garret-idx-chunk-state-created-at").on(t.state, t.createdAt),
    index("garret-idx-chunk-held").on(t.leasedAt).where(sql`holders_count > 0`),
  ],
);

export const chunkref = pgTable(
  "chunkref",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    narId: bigint("nar_id", { mode: "number" }).notNull(),
    /** 0-based position of the chunk in the NAR. */
    seq: integer("seq").notNull(),
    /** NULL once the chunk row is gone (ON DELETE SET NULL): the NAR is then incomplete. */
    chunkId: bigint("chunk_id", { mode: "number" }),
  },
  (t) => [
    foreignKey({ name: "fk_chunkref_chunk", columns: [t.chunkId], foreignColumns: [chunk.id] }).onDelete(
      "set null",
    ),
    foreignKey({ name: "fk_chunkref_nar", columns: [t.narId], foreignColumns: [nar.id] }).onDelete("cascade"),
    index("idx-chunk-nar-id").on(t.narId),
    index("idx-chunk-chunk-id").on(t.chunkId),
  ],
);

export type CacheRow = typeof cache.$inferSelect;
export type NarRow = typeof nar.$inferSelect;
export type ObjectRow = typeof object.$inferSelect;
export type ChunkRow = typeof chunk.$inferSelect;
export type ChunkRefRow = typeof chunkref.$inferSelect;
