/**
 * Extracts the token from an `Authorization` header the way atticd's auth middleware does
 * (attic `server/src/access/http.rs`).
 *
 *     Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9...
 *     Authorization: Basic OnNlY3JldA==        (":secret", what curl sends for a netrc password)
 *
 * The scheme is case-insensitive and followed by exactly one space. A Basic credential must be
 * standard base64 with canonical padding, decode to UTF-8 and contain `:`; the token is everything
 * after the first colon and the username is ignored (Nix sends an empty one).
 */

const HEADER = /^(bearer|basic) (.*)$/i;
const CANONICAL_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Returns the token, or null when there is none (the request then proceeds as anonymous). */
export function parseAuthorizationHeader(value: string | undefined | null): string | null {
  if (!value) return null;
  const match = HEADER.exec(value);
  const scheme = match?.[1];
  const rest = match?.[2];
  // An empty or space-led rest cannot be a token; atticd would fail to verify it anyway.
  if (scheme === undefined || rest === undefined || rest === "" || rest.startsWith(" ")) return null;
  if (scheme.toLowerCase() === "bearer") return rest;

  const decoded = decodeBasic(rest);
  if (decoded === null) return null;
  const colon = decoded.indexOf(":");
  if (colon < 0) return null;
  const token = decoded.slice(colon + 1);
  return token === "" ? null : token;
}

function decodeBasic(b64: string): string | null {
  if (!CANONICAL_BASE64.test(b64)) return null;
  const bytes = Buffer.from(b64, "base64");
  // Non-zero bits after the last full byte are not canonical; Rust's base64 refuses them.
  if (bytes.toString("base64") !== b64) return null;
  try {
    return utf8.decode(bytes);
  } catch {
    return null;
  }
}
