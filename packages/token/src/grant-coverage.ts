/**
 * Whether a token may hand out a set of cache grants: every cache name a requested pattern can
 * match must get at least the requested bits from the minter's own token, under atticd's lookup
 * rule (an exact key wins, else the first matching glob in document order; see attic-token.ts).
 * A minted token therefore never holds more on any cache than the token that minted it.
 *
 * Glob containment is decided exactly: patterns have `*` as their only metacharacter, so every
 * name P matches is matched by M exactly when M matches the text of P with P's `*` read as a
 * character only M's `*` can absorb (the alphabet has more letters than a pattern has characters,
 * so substituting an unused letter for P's stars gives a witness otherwise). Overlap between two
 * globs is decided conservatively: they are assumed to overlap unless their literal prefixes or
 * suffixes contradict each other, which can only make the check refuse more.
 */
import {
  cachePatternMatches,
  PERMISSION_LETTERS,
  type Permission,
  type PermissionLetter,
} from "@garret/protocol";
import type { AtticToken, CachePermissions } from "./attic-token.ts";

export interface UncoveredGrant {
  pattern: string;
  /** The requested bits the minter cannot guarantee on every cache the pattern matches. */
  missing: PermissionLetter[];
}

/** The first requested entry the minter does not cover, or null when all are covered. */
export function findUncoveredGrant(
  minter: Pick<AtticToken, "caches" | "getPermission">,
  requested: CachePermissions,
): UncoveredGrant | null {
  for (const [pattern, bits] of requested) {
    const missing = missingBits(minter, pattern, bits);
    if (missing.length > 0) return { pattern, missing };
  }
  return null;
}

function missingBits(
  minter: Pick<AtticToken, "caches" | "getPermission">,
  pattern: string,
  bits: Permission,
): PermissionLetter[] {
  const wanted = PERMISSION_LETTERS.filter((l) => bits[l]);
  if (wanted.length === 0) return [];
  if (!pattern.includes("*")) {
    const have = minter.getPermission(pattern);
    return wanted.filter((l) => !have[l]);
  }
  const missing = new Set<PermissionLetter>();
  const lack = (have: Permission) => {
    for (const l of wanted) if (!have[l]) missing.add(l);
  };
  // Names of the pattern that the minter lists exactly resolve to those entries.
  const exactSeen = new Set<string>();
  for (const [key] of minter.caches) {
    if (key.includes("*") || exactSeen.has(key)) continue;
    exactSeen.add(key);
    if (cachePatternMatches(pattern, key)) lack(minter.getPermission(key));
  }
  // Every other name resolves to the first glob matching it: some glob up to the first one that
  // contains the whole pattern, and any earlier glob overlapping the pattern may be that one.
  let contained = false;
  for (const [key, have] of minter.caches) {
    if (!key.includes("*") || !globsMayOverlap(key, pattern)) continue;
    lack(have);
    if (cachePatternMatches(key, pattern)) {
      contained = true;
      break;
    }
  }
  if (!contained) for (const l of wanted) missing.add(l);
  return PERMISSION_LETTERS.filter((l) => missing.has(l));
}

/** False only when no name can match both globs (their fixed prefixes or suffixes disagree). */
export function globsMayOverlap(a: string, b: string): boolean {
  const prefix = (p: string) => p.slice(0, p.indexOf("*"));
  const suffix = (p: string) => p.slice(p.lastIndexOf("*") + 1);
  const pa = prefix(a);
  const pb = prefix(b);
  const sa = suffix(a);
  const sb = suffix(b);
  return (pa.startsWith(pb) || pb.startsWith(pa)) && (sa.endsWith(sb) || sb.endsWith(sa));
}
