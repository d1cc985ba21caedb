/**
 * garret's own claim, next to attic's in tokens garret mints. atticd ignores claims it does not
 * know, so a token carrying it still works on atticd (without the extra powers).
 *
 *     {"exp":1767225600,"nbf":1764547200,"sub":"ops","jti":"6f1c…",
 *      "https://jwt.attic.rs/v1":{"caches":{"*":{"r":1,"w":1,"cc":1}}},
 *      "https://garret.dev/v1":{"admin":true}}
 *
 * `admin: true` lets the token administer tokens over HTTP: mint (never beyond its own cache
 * grants and expiry), list and revoke. Anything other than the literal `true` means no grant.
 */
import type { AtticToken } from "./attic-token.ts";

export const GARRET_CLAIM = "https://garret.dev/v1";

export interface GarretGrant {
  admin: boolean;
}

export function readGarretGrant(token: Pick<AtticToken, "claims">): GarretGrant {
  const ns = token.claims[GARRET_CLAIM];
  const admin =
    typeof ns === "object" &&
    ns !== null &&
    !Array.isArray(ns) &&
    (ns as Record<string, unknown>).admin === true;
  return { admin };
}

/** The extra claims to pass to `mint` for a grant; empty when the grant adds nothing. */
export function garretGrantClaims(grant: GarretGrant): Record<string, unknown> {
  return grant.admin ? { [GARRET_CLAIM]: { admin: true } } : {};
}
