/** @garret/nix: pure Nix formats (nix32, hashes, store paths, narinfo, signing, NAR validation). */
export * from "./base32.ts";
export * from "./cache-info.ts";
export * from "./errors.ts";
export * from "./hash.ts";
export * from "./line-text.ts";
export * from "./nar.ts";
export * from "./narinfo.ts";
export * from "./signing.ts";
export * from "./store-path.ts";
