-- 0001 (SQLite): atticd's schema, exactly as its 15 SeaORM migrations leave it on SQLite, by
-- replaying the statements sea-query 0.32 emits for them there, in order. SQLite keeps each table's
-- DDL as text that ALTER TABLE edits, so replaying (rather than writing the final tables) leaves
-- the same text in sqlite_master as a database atticd built: `integer … PRIMARY KEY AUTOINCREMENT`
-- ids, `bigint` sizes, `timestamp_with_timezone_text` times, unnamed foreign keys, and `nar` rebuilt
-- by migration 5 (columns reordered, `idx-nar-nar-hash` gone with the old table).
--
-- On a database atticd already created, garret records this migration as adopted and never runs it.

CREATE TABLE IF NOT EXISTS "seaql_migrations" ( "version" varchar NOT NULL PRIMARY KEY, "applied_at" bigint NOT NULL );

-- m20221227_000001_create_cache_table
CREATE TABLE IF NOT EXISTS "cache" ( "id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "name" varchar(50) NOT NULL UNIQUE, "keypair" varchar NOT NULL, "is_public" boolean NOT NULL, "store_dir" varchar NOT NULL, "priority" integer NOT NULL, "upstream_cache_key_names" varchar NOT NULL, "created_at" timestamp_with_timezone_text NOT NULL, "deleted_at" timestamp_with_timezone_text NULL );
CREATE INDEX "idx-cache-name" ON "cache" ("name");

-- m20221227_000003_create_nar_table
CREATE TABLE IF NOT EXISTS "nar" ( "id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "state" char(1) NOT NULL, "nar_hash" varchar NOT NULL, "nar_size" bigint NOT NULL, "file_hash" varchar NULL, "file_size" bigint NULL, "compression" varchar NOT NULL, "remote_file" varchar NOT NULL, "remote_file_id" varchar NOT NULL UNIQUE, "holders_count" integer NOT NULL DEFAULT 0, "created_at" timestamp_with_timezone_text NOT NULL );
CREATE INDEX "idx-nar-nar-hash" ON "nar" ("nar_hash");

-- m20221227_000002_create_object_table
CREATE TABLE IF NOT EXISTS "object" ( "id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "cache_id" bigint NOT NULL, "nar_id" bigint NOT NULL, "store_path_hash" varchar(32) NOT NULL, "store_path" varchar NOT NULL, "references" varchar NOT NULL, "system" varchar, "deriver" varchar, "sigs" varchar NOT NULL, "ca" varchar, "created_at" timestamp_with_timezone_text NOT NULL, FOREIGN KEY ("cache_id") REFERENCES "cache" ("id") ON DELETE CASCADE, FOREIGN KEY ("nar_id") REFERENCES "nar" ("id") ON DELETE CASCADE );
CREATE UNIQUE INDEX "idx-object-cache-hash" ON "object" ("cache_id", "store_path_hash");

-- m20221227_000004_add_object_last_accessed
ALTER TABLE "object" ADD COLUMN "last_accessed_at" timestamp_with_timezone_text NULL;

-- m20221227_000005_add_cache_retention_period
ALTER TABLE "cache" ADD COLUMN "retention_period" integer NULL;

-- m20230103_000001_add_object_created_by
ALTER TABLE "object" ADD COLUMN "created_by" varchar NULL;

-- m20230112_000001_add_chunk_table
CREATE TABLE "chunk" ( "id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "state" char(1) NOT NULL, "chunk_hash" varchar NOT NULL, "chunk_size" bigint NOT NULL, "file_hash" varchar NULL, "file_size" bigint NULL, "compression" varchar NOT NULL, "remote_file" varchar NOT NULL, "remote_file_id" varchar NOT NULL UNIQUE, "holders_count" integer NOT NULL DEFAULT 0, "created_at" timestamp_with_timezone_text NOT NULL );
CREATE INDEX "idx-chunk-chunk-hash" ON "chunk" ("chunk_hash");

-- m20230112_000002_add_chunkref_table
CREATE TABLE "chunkref" ( "id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "nar_id" bigint NOT NULL, "seq" integer NOT NULL, "chunk_id" bigint NULL, "chunk_hash" varchar NOT NULL, "compression" varchar NOT NULL, FOREIGN KEY ("chunk_id") REFERENCES "chunk" ("id") ON DELETE SET NULL, FOREIGN KEY ("nar_id") REFERENCES "nar" ("id") ON DELETE CASCADE );
CREATE INDEX "idx-chunk-nar-id" ON "chunkref" ("nar_id");
CREATE INDEX "idx-chunk-chunk-id" ON "chunkref" ("chunk_id");

-- m20230112_000003_add_nar_num_chunks
ALTER TABLE "nar" ADD COLUMN "num_chunks" integer NOT NULL DEFAULT 1;

-- m20230112_000004_migrate_nar_remote_files_to_chunks (its data copy has no rows to move here)
ALTER TABLE "chunk" ADD COLUMN "temp_nar_id" integer NOT NULL;
ALTER TABLE "chunk" DROP COLUMN "temp_nar_id";

-- m20230112_000005_drop_old_nar_columns: SQLite path, rebuild `nar` (atticd turns foreign keys off
-- around it; with no rows the rebuild needs no such care).
CREATE TABLE IF NOT EXISTS "nar_new" ( "id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "state" char(1) NOT NULL, "nar_hash" varchar NOT NULL, "nar_size" bigint NOT NULL, "compression" varchar NOT NULL, "num_chunks" integer NOT NULL DEFAULT 1, "holders_count" integer NOT NULL DEFAULT 0, "created_at" timestamp_with_timezone_text NOT NULL );
DROP TABLE "nar";
ALTER TABLE "nar_new" RENAME TO "nar";

-- m20230112_000006_add_nar_completeness_hint
ALTER TABLE "nar" ADD COLUMN "completeness_hint" boolean NOT NULL DEFAULT TRUE;

-- m20260508_000001_add_chunk_state_holders_index
CREATE INDEX "idx-chunk-state-holders" ON "chunk" ("state", "holders_count");

-- m20260611_000001_add_nar_state_holders_index
CREATE INDEX "idx-nar-state-holders" ON "nar" ("state", "holders_count");

-- m20260624_000001_remove_chunk_recovery
ALTER TABLE "chunkref" DROP COLUMN "chunk_hash";
ALTER TABLE "chunkref" DROP COLUMN "compression";
ALTER TABLE "nar" DROP COLUMN "completeness_hint";

-- SeaORM's bookkeeping: applied_at is Unix seconds. atticd matches on the name (two are swapped
-- relative to their file names upstream).
INSERT INTO "seaql_migrations" ("version", "applied_at") VALUES
  ('m20221227_000001_create_cache_table', unixepoch()),
  ('m20221227_000003_create_nar_table', unixepoch()),
  ('m20221227_000002_create_object_table', unixepoch()),
  ('m20221227_000004_add_object_last_accessed', unixepoch()),
  ('m20221227_000005_add_cache_retention_period', unixepoch()),
  ('m20230103_000001_add_object_created_by', unixepoch()),
  ('m20230112_000001_add_chunk_table', unixepoch()),
  ('m20230112_000002_add_chunkref_table', unixepoch()),
  ('m20230112_000003_add_nar_num_chunks', unixepoch()),
  ('m20230112_000004_migrate_nar_remote_files_to_chunks', unixepoch()),
  ('m20230112_000005_drop_old_nar_columns', unixepoch()),
  ('m20230112_000006_add_nar_completeness_hint', unixepoch()),
  ('m20260508_000001_add_chunk_state_holders_index', unixepoch()),
  ('m20260611_000001_add_nar_state_holders_index', unixepoch()),
  ('m20260624_000001_remove_chunk_recovery', unixepoch());
