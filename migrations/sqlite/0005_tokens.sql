-- 0005 (SQLite): token records and revocations, as the Postgres 0005.
CREATE TABLE IF NOT EXISTS garret_token (
  jti text PRIMARY KEY,
  sub text NOT NULL,
  permissions text NOT NULL,
  admin boolean NOT NULL DEFAULT 0,
  expires_at timestamp_with_timezone_text NULL,
  origin text NOT NULL,
  minted_by text NULL,
  minted_at timestamp_with_timezone_text NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
  revoked_at timestamp_with_timezone_text NULL,
  revoked_by text NULL
);
CREATE INDEX IF NOT EXISTS "garret-idx-token-sub" ON garret_token (sub);
CREATE INDEX IF NOT EXISTS "garret-idx-token-revoked" ON garret_token (expires_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS garret_revoked_subject (
  sub text PRIMARY KEY,
  revoked_at timestamp_with_timezone_text NOT NULL,
  revoked_by text NULL
);
