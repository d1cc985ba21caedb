-- 0005: token records and revocations (garret extension; atticd never reads these tables).
-- Every token garret mints gets a row keyed by its `jti`; revoking sets revoked_at. Tokens without
-- a jti (minted by atticd/atticadm) are revoked by subject: garret_revoked_subject makes every
-- token of that subject issued (nbf/iat) at or before revoked_at anonymous.

CREATE TABLE IF NOT EXISTS garret_token (
  jti text PRIMARY KEY,
  sub text NOT NULL,
  -- The attic claim's `caches` object as minted, e.g. {"team-*":{"r":1,"w":1}}.
  permissions text NOT NULL,
  admin boolean NOT NULL DEFAULT false,
  expires_at timestamptz NULL,
  -- 'api' (POST /_api/v1/tokens), 'garretadm' or 'oidc'.
  origin text NOT NULL,
  -- The minting token's subject, "garretadm", or "oidc:<issuer>".
  minted_by text NULL,
  minted_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz NULL,
  revoked_by text NULL
);

CREATE INDEX IF NOT EXISTS "garret-idx-token-sub" ON garret_token (sub);
-- The revocation list every replica reloads every few seconds.
CREATE INDEX IF NOT EXISTS "garret-idx-token-revoked" ON garret_token (expires_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS garret_revoked_subject (
  sub text PRIMARY KEY,
  revoked_at timestamptz NOT NULL,
  revoked_by text NULL
);
