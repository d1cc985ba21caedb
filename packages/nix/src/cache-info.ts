/**
 * The `nix-cache-info` document, in atticd's field order (attic `server/src/api/binary_cache.rs`):
 *
 *   WantMassQuery: 1
 *   StoreDir: /nix/store
 *   Priority: 41
 *
 * Nix reads it with `BinaryCacheStore::init` (`src/libstore/binary-cache-store.cc`); key order does
 * not matter to Nix, but matching atticd byte for byte keeps responses identical.
 *
 * A store dir holding a line break or NUL is refused (line-text.ts), whatever the caller checked.
 */
import { assertOneLine } from "./line-text.ts";

export interface NixCacheInfo {
  storeDir: string;
  priority: number;
  wantMassQuery: boolean;
}

export function formatNixCacheInfo(info: NixCacheInfo): string {
  assertOneLine("StoreDir", info.storeDir);
  return `WantMassQuery: ${info.wantMassQuery ? 1 : 0}\nStoreDir: ${info.storeDir}\nPriority: ${info.priority}\n`;
}
