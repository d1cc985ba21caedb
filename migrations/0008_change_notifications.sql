-- 0008: tell every garretd process when something its in-memory lookups rely on changes (issue 8).
-- garretd keeps narinfo rows and cache rows in memory so that a lookup needs no database round
-- trip; it LISTENs on `garret_changes` and drops what it keeps when one of these triggers fires.
-- Triggers rather than NOTIFYs in garret's own code, so that every writer is covered: another
-- garretd replica, garretadm, an atticd still running against an adopted database, hand-written SQL.
-- Only changes that can make a kept row wrong notify: object inserts do not (missing objects are
-- never kept), cache inserts do (a missing cache is kept), and the frequent bookkeeping updates
-- (last_accessed_at, leases) are left out by the column lists.
-- Postgres folds identical notifications of one transaction into one. Additive: atticd's tables
-- gain triggers, not columns, and atticd does not listen.

CREATE OR REPLACE FUNCTION garret_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('garret_changes', TG_ARGV[0]);
  RETURN NULL;
END;
$$;

-- A statement that deleted nothing (GC's batches mostly) does not notify.
CREATE OR REPLACE FUNCTION garret_notify_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM gone) THEN
    PERFORM pg_notify('garret_changes', TG_ARGV[0]);
  END IF;
  RETURN NULL;
END;
$$;

-- Per row: a statement-level UPDATE trigger would also fire for every INSERT … ON CONFLICT DO UPDATE,
-- that is for every upload, even when nothing was replaced.
DROP TRIGGER IF EXISTS "garret-object-changed" ON object;
CREATE TRIGGER "garret-object-changed"
  AFTER UPDATE OF cache_id, nar_id, store_path_hash, store_path, "references", system, deriver, sigs, ca
  ON object FOR EACH ROW EXECUTE FUNCTION garret_notify_change('object');

-- Deleting a NAR cascades to its objects, so this also covers NAR deletion.
DROP TRIGGER IF EXISTS "garret-object-deleted" ON object;
CREATE TRIGGER "garret-object-deleted"
  AFTER DELETE ON object REFERENCING OLD TABLE AS gone
  FOR EACH STATEMENT EXECUTE FUNCTION garret_notify_deleted('object');

-- Only a valid NAR leaving the valid state matters: kept rows all point at valid NARs.
DROP TRIGGER IF EXISTS "garret-nar-invalidated" ON nar;
CREATE TRIGGER "garret-nar-invalidated"
  AFTER UPDATE OF state ON nar FOR EACH ROW
  WHEN (OLD.state = 'V' AND NEW.state IS DISTINCT FROM 'V')
  EXECUTE FUNCTION garret_notify_change('object');

DROP TRIGGER IF EXISTS "garret-cache-changed" ON cache;
CREATE TRIGGER "garret-cache-changed"
  AFTER INSERT OR UPDATE OR DELETE ON cache FOR EACH STATEMENT EXECUTE FUNCTION garret_notify_change('cache');
