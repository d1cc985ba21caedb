/**
 * `GET /{cache}/{hash}.narinfo`: the object's narinfo in atticd's exact text, signed by the cache key.
 *
 *   StorePath: /nix/store/nm1w9sdm6j6icmhd2q3260hl1w9zj6li-attic-test-no-deps
 *   URL: nar/nm1w9sdm6j6icmhd2q3260hl1w9zj6li.nar
 *   Compression: zstd
 *   NarHash: sha256:baeabdb75c223d171800c17b05c5e7e8e9980723a90eb6ffcc632a305afc5a42
 *   NarSize: 144
 *   References:
 *   Sig: mycache:<base64>
 *
 * Ed25519 is deterministic, so a signature over the same fingerprint with the same key never
 * changes: signatures are memoised by (key, fingerprint), which takes signing off the hot path
 * while a key rotation still takes effect at once (the key is part of the memo key). The rows, and
 * the text built from them, come from the object memo when they can (object-memo.ts states the
 * staleness bound).
 *
 * A miss in a cache with upstreams goes to pull-through (upstream/pull-through.ts), after the
 * caller was authorized. Stored signatures (`object.sigs`) are served beside the cache's own only
 * when they verify against a key trusted for one of the cache's upstreams: pulled paths keep their
 * upstream signature, and nothing an uploader sent is republished unchecked.
 */
import type { ObjectWithNar } from "@garret/db";
import { fingerprint, formatNarInfo, parseSecretKey } from "@garret/nix";
import type { AtticToken } from "@garret/token";
import type { Secret } from "../config/secret.ts";
import type { Deps } from "../deps.ts";
import { AtticError } from "../errors.ts";
import { authorizeCache } from "./authorize-cache.ts";
import type { Cache } from "./cache-directory.ts";

/** Compression names a narinfo may carry for data garret (or atticd) stored. */
export const SERVABLE_COMPRESSIONS: ReadonlySet<string> = new Set(["none", "zstd", "br", "xz", "bzip2"]);

/** The cache key's signature over a fingerprint, memoised in the process state. */
export function signFingerprint(deps: Deps, keypair: Secret<string>, print: string): string {
  const key = keypair.expose();
  return deps.state.signatures.sign(key, print, () => parseSecretKey(key).sign(print));
}

export interface NarInfoResult {
  text: string;
  isPublic: boolean;
}

export async function getNarInfo(
  deps: Deps,
  token: AtticToken | null,
  cacheName: string,
  storePathHash: string,
): Promise<NarInfoResult> {
  const { cache } = await authorizeCache(deps, token, cacheName, ["r"], { objectLookup: true });
  const entry = await deps.state.objects.load(deps.db, cache.id, storePathHash);
  if (!entry) {
    if (!deps.upstream) throw new AtticError("NoSuchObject", { canDiscover: true });
    return { text: await deps.upstream.narInfo(cache, storePathHash), isPublic: cache.isPublic };
  }
  if (entry.text === undefined || entry.keypair?.expose() !== cache.keypair.expose()) {
    entry.text = await buildNarInfo(deps, cache, entry.value, storePathHash);
    entry.keypair = cache.keypair;
  }
  return { text: entry.text, isPublic: cache.isPublic };
}

async function buildNarInfo(
  deps: Deps,
  cache: Cache,
  { object, nar }: ObjectWithNar,
  storePathHash: string,
): Promise<string> {
  if (!SERVABLE_COMPRESSIONS.has(nar.compression)) {
    throw new AtticError("InvalidCompressionType", { detail: nar.compression });
  }
  const keypair = cache.keypair;
  const print = fingerprint(object.storePath, nar.narHash, nar.narSize, object.references);
  const upstreamSigs = deps.upstream ? await deps.upstream.trustedSigs(cache, print, object.sigs) : [];
  return formatNarInfo({
    storePath: object.storePath,
    url: `nar/${storePathHash}.nar`,
    compression: nar.compression,
    narHash: nar.narHash,
    narSize: nar.narSize,
    references: object.references,
    system: object.system ?? undefined,
    deriver: object.deriver ?? undefined,
    sigs: [signFingerprint(deps, keypair, print), ...upstreamSigs],
    ca: object.ca ?? undefined,
  });
}
