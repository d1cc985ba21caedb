/** @garret/token: package entry point. */
export {};
