/** @garret/storage: package entry point. */
export {};
