/**
 * Cache names and cache-name patterns, as atticd validates them (attic `cache.rs`).
 *
 * A name is 1-50 characters of `[A-Za-z0-9_+-]` not starting with `_`, `+` or `-`
 * (`zhaofengli+shared` uses `+` as a namespace delimiter). A pattern may also hold `*`, which
 * matches any sequence, case-sensitively, over the whole name: `team-*` matches `team-` and
 * `team-abc`, never `abc-team`.
 */

const CACHE_NAME = /^[A-Za-z0-9][A-Za-z0-9_+-]{0,49}$/;
const CACHE_PATTERN = /^[A-Za-z0-9*][A-Za-z0-9_+*-]{0,49}$/;

export function isValidCacheName(name: string): boolean {
  return CACHE_NAME.test(name);
}

export function isValidCachePattern(pattern: string): boolean {
  return CACHE_PATTERN.test(pattern);
}

const compiledPatterns = new Map<string, RegExp>();

/** Whole-string glob match; `*` is the only metacharacter (every other allowed char is literal). */
export function cachePatternMatches(pattern: string, name: string): boolean {
  if (!pattern.includes("*")) return pattern === name;
  let re = compiledPatterns.get(pattern);
  if (!re) {
    re = new RegExp(`^${pattern.split("*").map(escapeRegExp).join(".*")}$`);
    if (compiledPatterns.size > 10_000) compiledPatterns.clear();
    compiledPatterns.set(pattern, re);
  }
  return re.test(name);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
