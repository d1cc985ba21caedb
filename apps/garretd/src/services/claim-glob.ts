/**
 * Glob matching for OIDC claim values (`repository = "octo-org/*"`): `*` matches any run of
 * characters, including `/` and `:`; everything else is literal and case-sensitive; the whole
 * value must match. The identity token's claims are the caller's input, so matching is the
 * linear `globMatches` (no regular expression to backtrack on).
 */
import { globMatches } from "@garret/protocol";

export function claimGlobMatches(pattern: string, value: string): boolean {
  return globMatches(pattern, value);
}
