/**
 * Glob matching for OIDC claim values (`repository = "octo-org/*"`): `*` matches any run of
 * characters, including `/` and `:`; everything else is literal and case-sensitive; the whole
 * value must match.
 */
const compiled = new Map<string, RegExp>();

export function claimGlobMatches(pattern: string, value: string): boolean {
  if (!pattern.includes("*")) return pattern === value;
  let re = compiled.get(pattern);
  if (!re) {
    re = new RegExp(`^${pattern.split("*").map(escapeRegExp).join(".*")}$`, "s");
    if (compiled.size > 1000) compiled.clear();
    compiled.set(pattern, re);
  }
  return re.test(value);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
}
