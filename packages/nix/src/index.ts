/** @garret/nix: package entry point. */
export {};
