/**
 * What an admin token may administer (issue 14). A **full** admin holds every permission letter
 * on every cache name (`"*"` with all letters, nothing narrower before it): it names any subject
 * and sees and revokes every record. Any other admin is **scoped**:
 *
 *   - its namespace is its own subject followed by `/`: it mints, lists and revokes subjects
 *     `<sub>/NAME` only, so a minted token's `sub` (what audit lines and `object.created_by` carry)
 *     always names the admin that minted it, and nobody else's subject can be revoked with it;
 *   - it sees and revokes only the records it could have minted itself: subject in its namespace,
 *     grants covered by its own (grant-coverage.ts), expiry no later than its own.
 *
 * A scoped admin without a subject has an empty scope.
 */
import type { TokenRecord } from "@garret/db";
import {
  emptyPermission,
  PERMISSION_LETTERS,
  type Permission,
  type PermissionLetter,
} from "@garret/protocol";
import { type AtticToken, type CachePermissions, findUncoveredGrant } from "@garret/token";

export interface AdminScope {
  readonly admin: AtticToken;
  readonly full: boolean;
  /** `<sub>/` for a scoped admin with a subject; null otherwise. */
  readonly namespace: string | null;
}

const EVERYTHING: CachePermissions = [
  ["*", Object.fromEntries(PERMISSION_LETTERS.map((l) => [l, true])) as Permission],
];

export function adminScopeOf(admin: AtticToken): AdminScope {
  const full = findUncoveredGrant(admin, EVERYTHING) === null;
  const namespace = !full && admin.sub !== undefined && admin.sub !== "" ? `${admin.sub}/` : null;
  return { admin, full, namespace };
}

export function subjectInScope(scope: AdminScope, sub: string): boolean {
  if (scope.full) return true;
  return scope.namespace !== null && sub.length > scope.namespace.length && sub.startsWith(scope.namespace);
}

export function recordInScope(scope: AdminScope, record: TokenRecord): boolean {
  if (scope.full) return true;
  if (!subjectInScope(scope, record.sub)) return false;
  const exp = scope.admin.exp;
  if (exp !== undefined && (record.expiresAt === null || record.expiresAt > exp)) return false;
  return findUncoveredGrant(scope.admin, recordGrants(record)) === null;
}

/** The attic `caches` object a record keeps as JSON text, back in claim form. */
function recordGrants(record: TokenRecord): CachePermissions {
  const parsed = JSON.parse(record.permissions) as Record<string, Record<string, unknown>>;
  return Object.entries(parsed).map(([pattern, bits]) => {
    const permission = emptyPermission();
    for (const letter of PERMISSION_LETTERS) permission[letter as PermissionLetter] = bits[letter] === 1;
    return [pattern, permission];
  });
}
