/**
 * Token administration (garret extension, `/_api/v1/tokens`): minting by admins, listing and
 * revocation. Who may administer is the garret admin claim (garret-claim.ts in @garret/token); what
 * an admin may mint is bounded by its own token: every requested grant must be covered by its
 * cache grants (grant-coverage.ts) and the new token may not outlive it. Every minted token is
 * recorded with a fresh `jti` so it can be listed and revoked.
 *
 * Admins act within their grants (admin-scope.ts): a full admin (every letter on every cache)
 * names any subject and sees every record; a scoped admin mints subjects under its own
 * (`<sub>/…`) only, and lists and revokes only records it could have minted itself.
 */
import { randomUUID } from "node:crypto";
import {
  findTokenRecord,
  insertTokenRecord,
  listRevokedSubjects,
  listTokenRecords,
  type RevokedSubject,
  revokeSubject,
  revokeTokenRecord,
  type TokenOrigin,
  type TokenRecord,
} from "@garret/db";
import { PERMISSION_LETTERS } from "@garret/protocol";
import {
  type AtticToken,
  type CachePermissions,
  findUncoveredGrant,
  garretGrantClaims,
  readGarretGrant,
} from "@garret/token";
import type { Deps } from "../deps.ts";
import { AtticError, requestError } from "../errors.ts";
import { adminScopeOf, recordInScope, subjectInScope } from "./admin-scope.ts";
import { audit } from "./audit.ts";

export interface MintRequest {
  sub: string;
  validitySeconds: number;
  caches: CachePermissions;
  admin: boolean;
}

export interface MintedToken {
  token: string;
  jti: string;
  sub: string;
  /** Unix seconds. */
  exp: number;
  nbf: number;
}

/** Anonymous callers get 401, authenticated non-admins 403. */
export function requireAdmin(token: AtticToken | null): AtticToken {
  if (!token) throw new AtticError("Unauthorized");
  if (!readGarretGrant(token).admin) throw new AtticError("AccessError");
  return token;
}

export async function mintTokenForAdmin(
  deps: Deps,
  token: AtticToken | null,
  request: MintRequest,
): Promise<MintedToken> {
  const minter = requireAdmin(token);
  const scope = adminScopeOf(minter);
  if (!subjectInScope(scope, request.sub)) {
    throw new AtticError("PermissionExceeded", {
      detail:
        scope.namespace === null
          ? "a scoped admin token without a subject cannot mint tokens"
          : `a scoped admin mints subjects under its own: "${scope.namespace}NAME", not ${JSON.stringify(request.sub)}`,
    });
  }
  const uncovered = findUncoveredGrant(minter, request.caches);
  if (uncovered) {
    throw new AtticError("PermissionExceeded", {
      detail: `"${uncovered.pattern}" needs ${uncovered.missing.join(", ")} on caches the caller cannot guarantee them for`,
    });
  }
  const now = Math.floor(deps.clock().getTime() / 1000);
  if (minter.exp !== undefined && now + request.validitySeconds > minter.exp) {
    throw new AtticError("PermissionExceeded", {
      detail: `the validity ends after the caller's own token expires (at most ${Math.max(0, minter.exp - now)} seconds)`,
    });
  }
  const minted = await mintRecorded(deps, { ...request, origin: "api", mintedBy: minter.sub ?? null, now });
  audit(deps, minter, "token.mint", {
    minted: {
      jti: minted.jti,
      sub: minted.sub,
      exp: minted.exp,
      admin: request.admin,
      caches: cachesJson(request.caches),
    },
  });
  return minted;
}

/** Signs a token with a fresh jti and records it; shared by the admin API and the OIDC exchange. */
export async function mintRecorded(
  deps: Pick<Deps, "tokens" | "db">,
  opts: MintRequest & { origin: TokenOrigin; mintedBy: string | null; now: number },
): Promise<MintedToken> {
  if (!deps.tokens.canSign) {
    throw requestError("this server cannot mint tokens: its JWT configuration holds only a public key");
  }
  const jti = randomUUID();
  const exp = opts.now + opts.validitySeconds;
  await insertTokenRecord(deps.db, {
    jti,
    sub: opts.sub,
    permissions: JSON.stringify(cachesJson(opts.caches)),
    admin: opts.admin,
    expiresAt: exp,
    origin: opts.origin,
    mintedBy: opts.mintedBy,
  });
  const token = await deps.tokens.mint({
    sub: opts.sub,
    validitySeconds: opts.validitySeconds,
    caches: opts.caches,
    jti,
    now: opts.now,
    extraClaims: garretGrantClaims({ admin: opts.admin }),
  });
  return { token, jti, sub: opts.sub, exp, nbf: opts.now };
}

/** The attic claim's `caches` object: set bits only, as integers. */
export function cachesJson(caches: CachePermissions): Record<string, Record<string, 1>> {
  const out: Record<string, Record<string, 1>> = {};
  for (const [pattern, permission] of caches) {
    const entry = out[pattern] ?? {};
    out[pattern] = entry;
    for (const letter of PERMISSION_LETTERS) if (permission[letter]) entry[letter] = 1;
  }
  return out;
}

export interface TokenListing {
  tokens: Array<{
    jti: string;
    sub: string;
    caches: unknown;
    admin: boolean;
    origin: TokenOrigin;
    expires_at: number | null;
    minted_by: string | null;
    minted_at: number;
    revoked_at: number | null;
    revoked_by: string | null;
  }>;
  revoked_subjects: Array<{ sub: string; revoked_at: number; revoked_by: string | null }>;
}

export async function listTokens(
  deps: Deps,
  token: AtticToken | null,
  opts: { sub?: string; includeExpired?: boolean },
): Promise<TokenListing> {
  const scope = adminScopeOf(requireAdmin(token));
  const records = (await listTokenRecords(deps.db, opts)).filter((r) => recordInScope(scope, r));
  const subjects = (await listRevokedSubjects(deps.db)).filter((s) => subjectInScope(scope, s.sub));
  return formatListing(records, subjects);
}

export function formatListing(records: TokenRecord[], subjects: RevokedSubject[]): TokenListing {
  return {
    tokens: records.map((r) => ({
      jti: r.jti,
      sub: r.sub,
      caches: JSON.parse(r.permissions) as unknown,
      admin: r.admin,
      origin: r.origin,
      expires_at: r.expiresAt,
      minted_by: r.mintedBy,
      minted_at: Math.floor(r.mintedAt),
      revoked_at: r.revokedAt === null ? null : Math.floor(r.revokedAt),
      revoked_by: r.revokedBy,
    })),
    revoked_subjects: subjects.map((s) => ({
      sub: s.sub,
      revoked_at: Math.floor(s.revokedAt),
      revoked_by: s.revokedBy,
    })),
  };
}

export async function revokeTokenByJti(
  deps: Deps,
  token: AtticToken | null,
  jti: string,
): Promise<{ jti: string; sub: string; revoked_at: number }> {
  const admin = requireAdmin(token);
  // A record beyond the caller's scope answers as one that does not exist.
  const found = await findTokenRecord(deps.db, jti);
  if (!found || !recordInScope(adminScopeOf(admin), found)) throw new AtticError("NotFound");
  const record = await revokeTokenRecord(deps.db, jti, admin.sub ?? null);
  if (!record || record.revokedAt === null) throw new AtticError("NotFound");
  deps.state.revocations.noteJti(jti);
  audit(deps, admin, "token.revoke", { revoked: { jti, sub: record.sub } });
  return { jti, sub: record.sub, revoked_at: Math.floor(record.revokedAt) };
}

export async function revokeTokensOfSubject(
  deps: Deps,
  token: AtticToken | null,
  sub: string,
): Promise<{ sub: string; revoked_at: number; tokens: number }> {
  const admin = requireAdmin(token);
  if (sub === "") throw requestError("the subject must not be empty");
  const scope = adminScopeOf(admin);
  if (!subjectInScope(scope, sub)) {
    throw new AtticError("PermissionExceeded", {
      detail:
        scope.namespace === null
          ? "a scoped admin token without a subject cannot revoke subjects"
          : `a scoped admin revokes only subjects under its own ("${scope.namespace}NAME")`,
    });
  }
  const wider = (await listTokenRecords(deps.db, { sub, includeExpired: true })).find(
    (r) => !recordInScope(scope, r),
  );
  if (wider) {
    throw new AtticError("PermissionExceeded", {
      detail: `${JSON.stringify(sub)} holds a token with grants or an expiry beyond the caller's`,
    });
  }
  const { revoked, tokens } = await revokeSubject(deps.db, sub, admin.sub ?? null);
  deps.state.revocations.noteSubject(sub, revoked.revokedAt);
  audit(deps, admin, "subject.revoke", { revoked: { sub, recordedTokens: tokens } });
  return { sub, revoked_at: Math.floor(revoked.revokedAt), tokens };
}
