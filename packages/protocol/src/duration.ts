/**
 * humantime durations, as atticd parses `--validity`, `--retention-period` and the
 * `[garbage-collection]` keys: a sequence of `<integer><unit>` with optional whitespace, summed.
 * `10y` = 315,576,000 s; `3 months` = 7,890,048 s; `M` is month and `m` minute. A bare number is an error.
 */

const UNIT_SECONDS: Record<string, number> = {};
const UNITS: [string[], number][] = [
  [["ns", "nsec", "nanos"], 1e-9],
  [["us", "usec"], 1e-6],
  [["ms", "msec", "millis"], 1e-3],
  [["s", "sec", "secs", "second", "seconds"], 1],
  [["m", "min", "mins", "minute", "minutes"], 60],
  [["h", "hr", "hrs", "hour", "hours"], 3600],
  [["d", "day", "days"], 86_400],
  [["w", "week", "weeks"], 604_800],
  [["M", "month", "months"], 2_630_016],
  [["y", "year", "years"], 31_557_600],
];
for (const [names, seconds] of UNITS) for (const n of names) UNIT_SECONDS[n] = seconds;

export class DurationError extends Error {}

/** Parses a humantime duration into (possibly fractional) seconds. */
export function parseDuration(text: string): number {
  const s = text.trim();
  if (s === "") throw new DurationError("empty duration");
  const re = /\s*(\d+)\s*([A-Za-z]+)\s*/y;
  let total = 0;
  let pos = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) throw new DurationError(`invalid duration "${text}": expected <number><unit>`);
    const unit = UNIT_SECONDS[m[2] as string];
    if (unit === undefined) throw new DurationError(`invalid duration "${text}": unknown unit "${m[2]}"`);
    total += Number(m[1]) * unit;
    pos = re.lastIndex;
  }
  return total;
}

/** Parses a duration and rounds down to whole seconds. */
export function parseDurationSeconds(text: string): number {
  return Math.floor(parseDuration(text));
}
