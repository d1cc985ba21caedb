/**
 * Text that ends up in a line-oriented format (narinfo, `nix-cache-info`, log lines) or in a
 * database column must carry no control characters: a line break would add lines to what every
 * client of a cache reads, and a NUL byte is refused by Postgres (a 500 instead of a 400). The
 * check itself lives with the Nix formats (`@garret/nix` line-text.ts), which refuse line
 * breaks again when formatting.
 */
import { hasControlChars } from "@garret/nix";
import { z } from "zod";

export { hasControlChars };

export const CONTROL_CHARS_MESSAGE = "must not contain control characters (line breaks, NUL, …)";

/** A string of at most `max` characters without control characters. */
export function plainText(max: number) {
  return z
    .string()
    .max(max)
    .refine((s) => !hasControlChars(s), CONTROL_CHARS_MESSAGE);
}
