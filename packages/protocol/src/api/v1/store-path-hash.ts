/** The 32-character nix-base32 store path hash, as the wire schemas validate it. */
export const STORE_PATH_HASH_PATTERN = /^[0123456789abcdfghijklmnpqrsvwxyz]{32}$/;
