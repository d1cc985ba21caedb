-- 0007 (SQLite): lease times, as the Postgres 0007 (a garret process is the only writer of these).
ALTER TABLE nar ADD COLUMN leased_at timestamp_with_timezone_text NULL;
ALTER TABLE chunk ADD COLUMN leased_at timestamp_with_timezone_text NULL;
UPDATE nar SET leased_at = strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now') WHERE holders_count > 0;
UPDATE chunk SET leased_at = strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now') WHERE holders_count > 0;
CREATE INDEX IF NOT EXISTS "garret-idx-nar-held" ON nar (leased_at) WHERE holders_count > 0;
CREATE INDEX IF NOT EXISTS "garret-idx-chunk-held" ON chunk (leased_at) WHERE holders_count > 0;
