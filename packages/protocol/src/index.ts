/** @garret/protocol: package entry point. */
export {};
