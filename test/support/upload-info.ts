/**
 * The one builder of the NAR info an attic upload carries (`X-Attic-Nar-Info` or the preamble of
 * `PUT /_api/v1/upload-path`), for tests and benchmarks, typed by the protocol's schema: from NAR
 * bytes (synthetic paths, no Nix) or from a real store path's info.
 */
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { formatSha256Hex, parseSha256 } from "@garret/nix";
import type { UploadPathNarInfo } from "@garret/protocol";
import { randomStorePathHash } from "./nar.ts";

/** NAR info for NAR bytes: `/nix/store/<hash>-<name>` with a random hash unless given; fields overridable. */
export function narInfoForNar(
  cache: string,
  nar: Uint8Array,
  opts: { hash?: string; name?: string } & Partial<UploadPathNarInfo> = {},
): UploadPathNarInfo {
  const { hash: given, name, ...overrides } = opts;
  const hash = given ?? overrides.store_path_hash ?? randomStorePathHash();
  return {
    cache,
    store_path_hash: hash,
    store_path: `/nix/store/${hash}-${name ?? "test-path"}`,
    references: [],
    system: null,
    deriver: null,
    sigs: [],
    ca: null,
    nar_hash: `sha256:${createHash("sha256").update(nar).digest("hex")}`,
    nar_size: nar.length,
    ...overrides,
  };
}

/** What a store path's info (`nix path-info --json`) gives the builder. */
export interface StorePathInfo {
  path: string;
  narHash: string;
  narSize: number;
  references: readonly string[];
  deriver?: string | null;
  signatures?: readonly string[];
  ca?: string | null;
}

const baseName = (path: string) => path.slice(path.lastIndexOf("/") + 1);

/** NAR info for a real store path, as the attic client sends it. */
export function narInfoForPath(cache: string, info: StorePathInfo): UploadPathNarInfo {
  return {
    cache,
    store_path_hash: baseName(info.path).slice(0, 32),
    store_path: info.path,
    references: info.references.map(baseName),
    system: null,
    deriver: info.deriver ? baseName(info.deriver) : null,
    sigs: [...(info.signatures ?? [])],
    ca: info.ca ?? null,
    nar_hash: formatSha256Hex(parseSha256(info.narHash)),
    nar_size: info.narSize,
  };
}

/**
 * The headers and body of `PUT /_api/v1/upload-path` as the attic client frames them: the NAR info
 * in `X-Attic-Nar-Info`, or as a preamble of the body when asked or when it is 4 KiB or more.
 */
export function atticUploadRequest(
  narInfo: UploadPathNarInfo,
  nar: Readable,
  opts: { token: string; userAgent: string; preamble?: boolean },
): { headers: Record<string, string>; body: Readable } {
  const json = Buffer.from(JSON.stringify(narInfo));
  const headers: Record<string, string> = {
    authorization: `bearer ${opts.token}`,
    "content-type": "application/octet-stream",
    "user-agent": opts.userAgent,
  };
  if (!opts.preamble && json.length < 4096) {
    headers["x-attic-nar-info"] = json.toString();
    return { headers, body: nar };
  }
  headers["x-attic-nar-info-preamble-size"] = String(json.length);
  const body = Readable.from(
    (async function* () {
      yield json;
      yield* nar;
    })(),
  );
  return { headers, body };
}
