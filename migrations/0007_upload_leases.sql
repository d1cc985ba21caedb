-- 0007: when each upload lease was last taken (issue 9). `holders_count` is atticd's lease count:
-- an upload adds one while it needs a NAR or chunk and gives it back when done, but a process
-- killed in between never gives it back, and GC skips held rows forever. With the time of the
-- latest lease, GC treats a count older than its pending grace period (no upload runs that long)
-- as abandoned and resets it. Additive: two nullable columns and two small partial indexes; atticd
-- never writes leased_at, so rows it leases look abandoned to garret's GC after the grace period.

ALTER TABLE nar ADD COLUMN IF NOT EXISTS leased_at timestamptz NULL;
ALTER TABLE chunk ADD COLUMN IF NOT EXISTS leased_at timestamptz NULL;

-- Leases held right now count from the migration.
UPDATE nar SET leased_at = now() WHERE holders_count > 0;
UPDATE chunk SET leased_at = now() WHERE holders_count > 0;

CREATE INDEX IF NOT EXISTS "garret-idx-nar-held" ON nar (leased_at) WHERE holders_count > 0;
CREATE INDEX IF NOT EXISTS "garret-idx-chunk-held" ON chunk (leased_at) WHERE holders_count > 0;
