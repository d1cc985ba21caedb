-- 0001: atticd's schema, exactly as its 15 SeaORM migrations leave it on Postgres
-- (final state after m20260624_000001_remove_chunk_recovery).
--
-- Column order follows the history of atticd's migrations (columns added later come last, dropped
-- ones are gone), so a database created here is indistinguishable from one atticd created.
-- `seaql_migrations` records atticd's migrations as applied, so a real atticd pointed at this
-- database later runs only migrations newer than these.
--
-- On a database atticd already created, garret records this migration as adopted and never runs it.

CREATE TABLE cache (
  id bigserial NOT NULL PRIMARY KEY,
  name varchar(50) NOT NULL UNIQUE,
  keypair varchar NOT NULL,
  is_public bool NOT NULL,
  store_dir varchar NOT NULL,
  priority integer NOT NULL,
  upstream_cache_key_names varchar NOT NULL,
  created_at timestamptz NOT NULL,
  deleted_at timestamptz NULL,
  retention_period integer NULL
);
CREATE INDEX "idx-cache-name" ON cache (name);

CREATE TABLE nar (
  id bigserial NOT NULL PRIMARY KEY,
  state char(1) NOT NULL,
  nar_hash varchar NOT NULL,
  nar_size bigint NOT NULL,
  compression varchar NOT NULL,
  holders_count integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL,
  num_chunks integer NOT NULL DEFAULT 1
);
CREATE INDEX "idx-nar-nar-hash" ON nar (nar_hash);
CREATE INDEX "idx-nar-state-holders" ON nar (state, holders_count);

CREATE TABLE object (
  id bigserial NOT NULL PRIMARY KEY,
  cache_id bigint NOT NULL,
  nar_id bigint NOT NULL,
  store_path_hash varchar(32) NOT NULL,
  store_path varchar NOT NULL,
  "references" varchar NOT NULL,
  system varchar NULL,
  deriver varchar NULL,
  sigs varchar NOT NULL,
  ca varchar NULL,
  created_at timestamptz NOT NULL,
  last_accessed_at timestamptz NULL,
  created_by varchar NULL,
  CONSTRAINT fk_object_cache FOREIGN KEY (cache_id) REFERENCES cache (id) ON DELETE CASCADE,
  CONSTRAINT fk_object_nar FOREIGN KEY (nar_id) REFERENCES nar (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX "idx-object-cache-hash" ON object (cache_id, store_path_hash);

CREATE TABLE chunk (
  id bigserial NOT NULL PRIMARY KEY,
  state char(1) NOT NULL,
  chunk_hash varchar NOT NULL,
  chunk_size bigint NOT NULL,
  file_hash varchar NULL,
  file_size bigint NULL,
  compression varchar NOT NULL,
  remote_file varchar NOT NULL,
  remote_file_id varchar NOT NULL UNIQUE,
  holders_count integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL
);
CREATE INDEX "idx-chunk-chunk-hash" ON chunk (chunk_hash);
CREATE INDEX "idx-chunk-state-holders" ON chunk (state, holders_count);

CREATE TABLE chunkref (
  id bigserial NOT NULL PRIMARY KEY,
  nar_id bigint NOT NULL,
  seq integer NOT NULL,
  chunk_id bigint NULL,
  CONSTRAINT fk_chunkref_chunk FOREIGN KEY (chunk_id) REFERENCES chunk (id) ON DELETE SET NULL,
  CONSTRAINT fk_chunkref_nar FOREIGN KEY (nar_id) REFERENCES nar (id) ON DELETE CASCADE
);
CREATE INDEX "idx-chunk-nar-id" ON chunkref (nar_id);
CREATE INDEX "idx-chunk-chunk-id" ON chunkref (chunk_id);

-- SeaORM's bookkeeping; applied_at is Unix seconds. Two names are swapped relative to their files
-- upstream (000003_create_nar_table lives in file 000002 and vice versa); atticd matches on the name.
CREATE TABLE seaql_migrations (
  version varchar NOT NULL PRIMARY KEY,
  applied_at bigint NOT NULL
);
INSERT INTO seaql_migrations (version, applied_at)
SELECT v.version, extract(epoch FROM now())::bigint
FROM (VALUES
  (1, 'm20221227_000001_create_cache_table'),
  (2, 'm20221227_000003_create_nar_table'),
  (3, 'm20221227_000002_create_object_table'),
  (4, 'm20221227_000004_add_object_last_accessed'),
  (5, 'm20221227_000005_add_cache_retention_period'),
  (6, 'm20230103_000001_add_object_created_by'),
  (7, 'm20230112_000001_add_chunk_table'),
  (8, 'm20230112_000002_add_chunkref_table'),
  (9, 'm20230112_000003_add_nar_num_chunks'),
  (10, 'm20230112_000004_migrate_nar_remote_files_to_chunks'),
  (11, 'm20230112_000005_drop_old_nar_columns'),
  (12, 'm20230112_000006_add_nar_completeness_hint'),
  (13, 'm20260508_000001_add_chunk_state_holders_index'),
  (14, 'm20260611_000001_add_nar_state_holders_index'),
  (15, 'm20260624_000001_remove_chunk_recovery')
) AS v (ord, version)
ORDER BY v.ord;
