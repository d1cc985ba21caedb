/**
 * atticd's SQLite database URLs, read as sqlx reads them: `sqlite://PATH` or `sqlite:PATH` (so
 * `sqlite:///var/lib/atticd/server.db` names an absolute path and `sqlite://server.db` a relative
 * one), percent-decoded, with an optional `?mode=` of `rw` (sqlx's default: the file must exist),
 * `rwc` (create it if missing) or `memory`; `sqlite::memory:` is an in-memory database.
 */

export interface SqliteLocation {
  /** File path, or `:memory:`. */
  path: string;
  mode: "rw" | "rwc";
}

export function isSqliteUrl(url: string): boolean {
  return /^sqlite:/i.test(url);
}

/** The location, or a problem (never repeating the URL). */
export function parseSqliteUrl(url: string): SqliteLocation | string {
  const rest = url.replace(/^sqlite:(\/\/)?/i, "");
  const query = rest.indexOf("?");
  const rawPath = query === -1 ? rest : rest.slice(0, query);
  let path: string;
  try {
    path = decodeURIComponent(rawPath);
  } catch {
    return "the SQLite URL's path is not valid percent-encoding";
  }
  let mode: SqliteLocation["mode"] = "rw";
  for (const [key, value] of new URLSearchParams(query === -1 ? "" : rest.slice(query + 1))) {
    if (key === "mode") {
      if (value === "rw" || value === "rwc") mode = value;
      else if (value === "memory") path = ":memory:";
      else if (value === "ro")
        return "SQLite mode=ro is not supported: garret writes to its database (use rw or rwc)";
      else return `unknown SQLite mode=${value} (expected rw, rwc or memory)`;
    }
    // sqlx's other options (cache, immutable, vfs) change nothing garret relies on.
  }
  if (path === "") return "the SQLite URL names no file (expected sqlite:///path/to/server.db?mode=rwc)";
  return { path, mode };
}
