/**
 * Whole-string glob matching where `*` (any run of characters, possibly empty) is the only
 * metacharacter; every other character, `*`-free text included, is literal and case-sensitive.
 *
 * Matching never backtracks: the literal runs between stars are found left to right, each at its
 * leftmost position after the previous one (for `*`-only globs the leftmost choice never loses a
 * match), with the first run anchored at the start and the last at the end. The work is at most
 * one pass over the text per literal run, O(text × pattern), whatever the pattern; a regular
 * expression built from the pattern backtracks exponentially on `a*a*a*…b` against a long run of
 * `a`s (issue 14).
 */
export function globMatches(pattern: string, text: string): boolean {
  const runs = pattern.split("*");
  if (runs.length === 1) return pattern === text;
  const first = runs[0] ?? "";
  const last = runs[runs.length - 1] ?? "";
  if (first.length + last.length > text.length) return false;
  if (!text.startsWith(first) || !text.endsWith(last)) return false;
  let from = first.length;
  const end = text.length - last.length;
  for (let i = 1; i < runs.length - 1; i++) {
    const run = runs[i] ?? "";
    if (run === "") continue;
    const at = text.indexOf(run, from);
    if (at < 0 || at + run.length > end) return false;
    from = at + run.length;
  }
  return true;
}
