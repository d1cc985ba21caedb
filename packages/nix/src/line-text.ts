/**
 * Values written into line-oriented Nix formats (narinfo, `nix-cache-info`): a CR, LF or NUL in a
 * value would end the line early and let whoever chose the value add lines (a second `URL:`, a
 * `StoreDir:`) to what every client reads. Inputs are refused at the edge for every control
 * character (`hasControlChars`); the formatters refuse line breakers again (`assertOneLine`).
 */
import { NixFormatError } from "./errors.ts";

/** True when `s` holds a C0 control character (NUL, CR, LF, TAB, …) or DEL. */
export function hasControlChars(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

function breaksLine(s: string): boolean {
  return s.includes("\n") || s.includes("\r") || s.includes("\0");
}

/** Throws when `value` (the value of line `key`) would not stay on its line. */
export function assertOneLine(key: string, value: string): void {
  if (breaksLine(value)) {
    throw new NixFormatError("InvalidNarInfo", `${key} contains a line break or NUL and cannot be written`);
  }
}
