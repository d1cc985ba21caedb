/**
 * Store path helpers the client needs: splitting `/nix/store/<hash>-<name>` into its parts and
 * turning Nix's SRI NAR hash (`sha256-EFUdrtf6Rn0LWIJufrmg8q99aT3jGfLvd1//zaJEufY=`, what
 * `nix path-info --json` prints in 2.8) into the `sha256:<hex>` form attic's client uploads.
 *
 * Local stand-ins until @garret/nix exports parseStorePath/normalizeSha256Hex.
 */
import { STORE_PATH_HASH_PATTERN } from "@garret/protocol";

export interface StorePathParts {
  storeDir: string;
  hash: string;
  name: string;
  /** `<hash>-<name>`, the form attic sends as a reference. */
  baseName: string;
}

export const DEFAULT_STORE_DIR = "/nix/store";

/** Parses a top-level store path; null when `path` is not directly inside `storeDir`. */
export function parseStorePath(path: string, storeDir = DEFAULT_STORE_DIR): StorePathParts | null {
  const prefix = `${storeDir.replace(/\/+$/, "")}/`;
  if (!path.startsWith(prefix)) return null;
  const baseName = path.slice(prefix.length);
  if (baseName.includes("/")) return null;
  const hash = baseName.slice(0, 32);
  if (!STORE_PATH_HASH_PATTERN.test(hash) || baseName[32] !== "-" || baseName.length < 34) return null;
  return { storeDir: prefix.slice(0, -1), hash, name: baseName.slice(33), baseName };
}

const NIX32 = "0123456789abcdfghijklmnpqrsvwxyz";

/** Decodes Nix's base32 (least-significant digit last, as Nix prints it). */
function decodeNix32(s: string, byteLength: number): Buffer {
  const out = Buffer.alloc(byteLength);
  for (let n = 0; n < s.length; n++) {
    const c = s[s.length - n - 1] as string;
    const digit = NIX32.indexOf(c);
    if (digit < 0) throw new Error(`invalid nix-base32 character "${c}"`);
    const b = n * 5;
    const i = Math.floor(b / 8);
    const j = b % 8;
    out[i] = ((out[i] as number) | (digit << j)) & 0xff;
    if (i + 1 < byteLength) out[i + 1] = ((out[i + 1] as number) | (digit >> (8 - j))) & 0xff;
    else if (digit >> (8 - j) !== 0) throw new Error("nix-base32 value out of range");
  }
  return out;
}

/** Normalises any sha256 spelling Nix emits (SRI, `sha256:` + hex or nix-base32) to 64 hex digits. */
export function sha256ToHex(hash: string): string {
  if (hash.startsWith("sha256-")) {
    const bytes = Buffer.from(hash.slice(7), "base64");
    if (bytes.length !== 32) throw new Error(`invalid SRI sha256 hash "${hash}"`);
    return bytes.toString("hex");
  }
  const body = hash.startsWith("sha256:") ? hash.slice(7) : hash;
  if (/^[0-9a-f]{64}$/i.test(body)) return body.toLowerCase();
  if (body.length === 52) return decodeNix32(body, 32).toString("hex");
  throw new Error(`unrecognised sha256 hash "${hash}"`);
}
