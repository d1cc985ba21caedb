/**
 * Cache names and cache-name patterns, as atticd validates them (attic `cache.rs`).
 *
 * A name is 1-50 characters of `[A-Za-z0-9_+-]` not starting with `_`, `+` or `-`
 * (`zhaofengli+shared` uses `+` as a namespace delimiter). A pattern may also hold `*`, which
 * matches any sequence, case-sensitively, over the whole name: `team-*` matches `team-` and
 * `team-abc`, never `abc-team`.
 */
import { globMatches } from "./glob.ts";

const CACHE_NAME = /^[A-Za-z0-9][A-Za-z0-9_+-]{0,49}$/;
const CACHE_PATTERN = /^[A-Za-z0-9*][A-Za-z0-9_+*-]{0,49}$/;

export function isValidCacheName(name: string): boolean {
  return CACHE_NAME.test(name);
}

export function isValidCachePattern(pattern: string): boolean {
  return CACHE_PATTERN.test(pattern);
}

/** Whole-string glob match; `*` is the only metacharacter (linear, see glob.ts). */
export function cachePatternMatches(pattern: string, name: string): boolean {
  return globMatches(pattern, name);
}
