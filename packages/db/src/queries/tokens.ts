/**
 * Token records and revocations (garret tables from migration 0005; atticd has no counterpart).
 * Times cross this boundary as Unix seconds (fractional for revocation times), which both drivers
 * return as plain numbers from `extract(epoch …)::float8`.
 */
import { sql } from "drizzle-orm";
import { isSqlite } from "../dialect.ts";
import { toBoolean } from "../sqlite-values.ts";
import { type Executor, ormOf, rowsOf } from "./executor.ts";

export type TokenOrigin = "api" | "garretadm" | "oidc" | "first-start";

export interface NewTokenRecord {
  jti: string;
  sub: string;
  /** The attic claim's `caches` object as JSON text. */
  permissions: string;
  admin: boolean;
  /** Unix seconds; null = never expires. */
  expiresAt: number | null;
  origin: TokenOrigin;
  mintedBy: string | null;
}

export interface TokenRecord extends NewTokenRecord {
  mintedAt: number;
  revokedAt: number | null;
  revokedBy: string | null;
}

export interface RevokedSubject {
  sub: string;
  revokedAt: number;
  revokedBy: string | null;
}

export interface RevocationSnapshot {
  /** jtis of revoked tokens that have not expired yet. */
  jtis: string[];
  subjects: RevokedSubject[];
}

interface TokenRow extends Record<string, unknown> {
  jti: string;
  sub: string;
  permissions: string;
  admin: boolean | number;
  expires_at: number | null;
  origin: string;
  minted_by: string | null;
  minted_at: number;
  revoked_at: number | null;
  revoked_by: string | null;
}

/** Unix seconds of a timestamp column. */
function epoch(db: Executor, column: string) {
  return sql.raw(isSqlite(db) ? `unixepoch(${column}, 'subsec')` : `extract(epoch FROM ${column})::float8`);
}

function tokenColumns(db: Executor) {
  return sql`jti, sub, permissions, admin, ${epoch(db, "expires_at")} AS expires_at,
  origin, minted_by, ${epoch(db, "minted_at")} AS minted_at,
  ${epoch(db, "revoked_at")} AS revoked_at, revoked_by`;
}

function fromRow(r: TokenRow): TokenRecord {
  return {
    jti: r.jti,
    sub: r.sub,
    permissions: r.permissions,
    admin: toBoolean(r.admin),
    expiresAt: r.expires_at === null ? null : Number(r.expires_at),
    origin: r.origin as TokenOrigin,
    mintedBy: r.minted_by,
    mintedAt: Number(r.minted_at),
    revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
    revokedBy: r.revoked_by,
  };
}

export async function insertTokenRecord(db: Executor, t: NewTokenRecord): Promise<void> {
  await ormOf(db).execute(sql`
    INSERT INTO garret_token (jti, sub, permissions, admin, expires_at, origin, minted_by)
    VALUES (${t.jti}, ${t.sub}, ${t.permissions}, ${t.admin},
            ${expiry(db, t.expiresAt)}, ${t.origin}, ${t.mintedBy})`);
}

function expiry(db: Executor, seconds: number | null) {
  if (seconds === null) return null;
  return isSqlite(db) ? sql`${new Date(seconds * 1000)}` : sql`to_timestamp(${seconds})`;
}

export interface ListTokensOptions {
  sub?: string;
  /** Also list expired tokens. */
  includeExpired?: boolean;
  limit?: number;
}

/** Newest first. */
export async function listTokenRecords(db: Executor, opts: ListTokensOptions = {}): Promise<TokenRecord[]> {
  const where = [sql`true`];
  if (opts.sub !== undefined) where.push(sql`sub = ${opts.sub}`);
  if (!opts.includeExpired) where.push(sql`(expires_at IS NULL OR expires_at > now())`);
  const result = await ormOf(db).execute(sql`
    SELECT ${tokenColumns(db)} FROM garret_token WHERE ${sql.join(where, sql` AND `)}
    ORDER BY minted_at DESC, jti LIMIT ${opts.limit ?? 1000}`);
  return rowsOf<TokenRow>(result).map(fromRow);
}

export async function findTokenRecord(db: Executor, jti: string): Promise<TokenRecord | null> {
  const result = await ormOf(db).execute(
    sql`SELECT ${tokenColumns(db)} FROM garret_token WHERE jti = ${jti}`,
  );
  const row = rowsOf<TokenRow>(result)[0];
  return row ? fromRow(row) : null;
}

/**
 * Marks a recorded token revoked (keeping the first revocation's time and author) and returns the
 * record; null when no token has that jti.
 */
export async function revokeTokenRecord(
  db: Executor,
  jti: string,
  by: string | null,
): Promise<TokenRecord | null> {
  await ormOf(db).execute(sql`
    UPDATE garret_token SET revoked_at = now(), revoked_by = ${by} WHERE jti = ${jti} AND revoked_at IS NULL`);
  return findTokenRecord(db, jti);
}

/**
 * Revokes every token of a subject issued up to now: records (or moves forward) the subject's
 * revocation time and marks its recorded tokens revoked. Returns the revocation and how many
 * recorded tokens it newly marked.
 */
export async function revokeSubject(
  db: Executor,
  sub: string,
  by: string | null,
): Promise<{ revoked: RevokedSubject; tokens: number }> {
  const orm = ormOf(db);
  const upserted = await orm.execute(sql`
    INSERT INTO garret_revoked_subject (sub, revoked_at, revoked_by) VALUES (${sub}, now(), ${by})
    ON CONFLICT (sub) DO UPDATE SET revoked_at = excluded.revoked_at, revoked_by = excluded.revoked_by
    RETURNING sub, ${epoch(db, "revoked_at")} AS revoked_at, revoked_by`);
  const row = rowsOf<{ sub: string; revoked_at: number; revoked_by: string | null }>(upserted)[0];
  if (!row) throw new Error("revokeSubject: upsert returned no row");
  const marked = await orm.execute(sql`
    UPDATE garret_token SET revoked_at = now(), revoked_by = ${by}
    WHERE sub = ${sub} AND revoked_at IS NULL RETURNING jti`);
  return {
    revoked: { sub: row.sub, revokedAt: Number(row.revoked_at), revokedBy: row.revoked_by },
    tokens: rowsOf(marked).length,
  };
}

export async function listRevokedSubjects(db: Executor): Promise<RevokedSubject[]> {
  const result = await ormOf(db).execute(sql`
    SELECT sub, ${epoch(db, "revoked_at")} AS revoked_at, revoked_by
    FROM garret_revoked_subject ORDER BY revoked_at DESC, sub`);
  return rowsOf<{ sub: string; revoked_at: number; revoked_by: string | null }>(result).map((r) => ({
    sub: r.sub,
    revokedAt: Number(r.revoked_at),
    revokedBy: r.revoked_by,
  }));
}

/** What every replica keeps in memory: revoked, unexpired jtis and all revoked subjects. */
export async function loadRevocations(db: Executor): Promise<RevocationSnapshot> {
  const orm = ormOf(db);
  const jtis = await orm.execute(sql`
    SELECT jti FROM garret_token
    WHERE revoked_at IS NOT NULL AND (expires_at IS NULL OR expires_at > now())`);
  return {
    jtis: rowsOf<{ jti: string }>(jtis).map((r) => r.jti),
    subjects: await listRevokedSubjects(db),
  };
}
