/** Permission objects from letter lists, for minting test tokens: `grant(["r", "w"])`. */
import { PERMISSION_LETTERS, type Permission, type PermissionLetter } from "@garret/protocol";

export function grant(letters: readonly string[]): Permission {
  const p = Object.fromEntries(PERMISSION_LETTERS.map((l) => [l, false])) as Permission;
  for (const l of letters) {
    if (!(PERMISSION_LETTERS as readonly string[]).includes(l)) throw new Error(`unknown permission ${l}`);
    p[l as PermissionLetter] = true;
  }
  return p;
}
