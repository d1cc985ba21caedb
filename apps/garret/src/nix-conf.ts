/**
 * Minimal-diff editor for a user's `nix.conf`, as `attic use` needs it (attic
 * `client/src/nix_config.rs`): list settings get an item prepended, scalar settings get replaced,
 * and every other byte (comments, blank lines, indentation, `include` lines) is kept.
 *
 *   # my settings
 *   substituters = https://cache.nixos.org   # upstream
 *   trusted-public-keys = cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=
 *
 * Nix reads `key = value` lines, `#` starts a comment anywhere on a line, and a later line for the
 * same key overrides an earlier one, so the last occurrence is the one edited.
 */

export const CACHE_NIXOS_ORG = "https://cache.nixos.org";
export const CACHE_NIXOS_ORG_KEY = "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=";

interface SettingLine {
  index: number;
  indent: string;
  key: string;
  separator: string;
  value: string;
  trailer: string;
}

const SETTING = /^([ \t]*)([A-Za-z0-9_.-]+)([ \t]*=[ \t]*)([^#\r\n]*?)([ \t]*(?:#[^\r\n]*)?)$/;

function splitLines(text: string): string[] {
  return text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
}

function findLast(lines: string[], key: string): SettingLine | undefined {
  for (let i = lines.length - 1; i >= 0; i--) {
    const content = (lines[i] as string).replace(/\r?\n$/, "");
    const m = SETTING.exec(content);
    if (m && m[2] === key) {
      return {
        index: i,
        indent: m[1] as string,
        key,
        separator: m[3] as string,
        value: m[4] as string,
        trailer: m[5] as string,
      };
    }
  }
  return undefined;
}

function rewrite(lines: string[], found: SettingLine, value: string): string {
  const line = lines[found.index] as string;
  const eol = line.slice(line.replace(/\r?\n$/, "").length);
  const separator =
    found.value === "" && !/[ \t]$/.test(found.separator) && value !== ""
      ? `${found.separator} `
      : found.separator;
  lines[found.index] = `${found.indent}${found.key}${separator}${value}${found.trailer}${eol}`;
  return lines.join("");
}

function append(text: string, line: string): string {
  const prefix = text === "" || text.endsWith("\n") ? text : `${text}\n`;
  return `${prefix}${line}\n`;
}

/** Reads the last value of a setting (without its comment), or undefined when absent. */
export function getSetting(text: string, key: string): string | undefined {
  return findLast(splitLines(text), key)?.value;
}

/**
 * Puts `item` first in the whitespace-separated list `key` (removing an earlier copy); when the key
 * is absent a new line `key = item ...whenAbsent` is appended.
 */
export function prependToList(text: string, key: string, item: string, whenAbsent: string[] = []): string {
  const lines = splitLines(text);
  const found = findLast(lines, key);
  if (!found) return append(text, `${key} = ${[item, ...whenAbsent].join(" ")}`);
  const rest = found.value.split(/[ \t]+/).filter((v) => v !== "" && v !== item);
  return rewrite(lines, found, [item, ...rest].join(" "));
}

/** Sets a scalar setting, replacing the last occurrence or appending a line. */
export function setSetting(text: string, key: string, value: string): string {
  const lines = splitLines(text);
  const found = findLast(lines, key);
  if (!found) return append(text, `${key} = ${value}`);
  return rewrite(lines, found, value);
}
