/**
 * Minimal-diff editor for a netrc file, used by `garret use` to hand the token to Nix (Nix 2.8 only
 * authenticates to binary caches through curl's netrc; curl then sends `Basic base64(":<token>")`):
 *
 *   machine cache.example.com password eyJhbGciOi...
 *   machine github.com login me password ghp_...
 *   default login anonymous password x
 *
 * Follows curl's `lib/netrc.c` tokens: `machine NAME`, `default`, `login`, `password`, `account`,
 * `macdef NAME` (body runs to the next blank line), and `#` comments to the end of the line. Everything not edited is kept byte for byte.
 */

interface Token {
  text: string;
  start: number;
  end: number;
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  const re = /"(?:[^"\\]|\\.)*"|[^\s]+/g;
  let m: RegExpExecArray | null = re.exec(text);
  while (m !== null) {
    if (m[0].startsWith("#")) {
      // curl treats a token starting with # as a comment running to the end of the line
      const eol = text.indexOf("\n", m.index);
      re.lastIndex = eol < 0 ? text.length : eol + 1;
      m = re.exec(text);
      continue;
    }
    const token = { text: unquote(m[0]), start: m.index, end: m.index + m[0].length };
    tokens.push(token);
    if (token.text === "macdef") {
      // skip the macro name and its body, which ends at the first empty line
      const name = re.exec(text);
      if (!name) break;
      const bodyEnd = text.indexOf("\n\n", re.lastIndex);
      re.lastIndex = bodyEnd < 0 ? text.length : bodyEnd + 2;
    }
    m = re.exec(text);
  }
  return tokens;
}

function unquote(raw: string): string {
  if (raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"'))
    return raw.slice(1, -1).replace(/\\(.)/g, "$1");
  return raw;
}

function quote(value: string): string {
  return /^[^\s"\\]+$/.test(value) ? value : `"${value.replace(/["\\]/g, "\\$&")}"`;
}

/** Returns the password curl would use for `host`, or undefined. */
export function getPassword(text: string, host: string): string | undefined {
  const tokens = tokenize(text);
  let current: string | null = null;
  for (let i = 0; i < tokens.length; i++) {
    const t = (tokens[i] as Token).text;
    if (t === "machine") current = tokens[++i]?.text ?? null;
    else if (t === "default") current = host;
    else if (t === "password" && current === host) return tokens[i + 1]?.text;
  }
  return undefined;
}

/**
 * Sets `password` for `machine host`: replaces the existing value, adds it to an existing entry, or
 * adds `machine host password <secret>` before any `default` entry (curl stops at the first match).
 */
export function setPassword(text: string, host: string, secret: string): string {
  const tokens = tokenize(text);
  let entry: { nameEnd: number; password?: Token } | undefined;
  let defaultStart: number | undefined;
  let current: string | null = null;
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i] as Token;
    if (tok.text === "machine") {
      const name = tokens[++i];
      current = name?.text ?? null;
      if (current === host && !entry && name) entry = { nameEnd: name.end };
    } else if (tok.text === "default") {
      current = null;
      defaultStart ??= tok.start;
    } else if (["login", "password", "account"].includes(tok.text)) {
      const value = tokens[++i];
      if (tok.text === "password" && current === host && entry && !entry.password && value)
        entry.password = value;
    }
  }
  const value = quote(secret);
  if (entry?.password) return text.slice(0, entry.password.start) + value + text.slice(entry.password.end);
  if (entry) return `${text.slice(0, entry.nameEnd)} password ${value}${text.slice(entry.nameEnd)}`;
  const line = `machine ${host} password ${value}\n`;
  if (defaultStart !== undefined) return text.slice(0, defaultStart) + line + text.slice(defaultStart);
  const prefix = text === "" || text.endsWith("\n") ? text : `${text}\n`;
  return prefix + line;
}
