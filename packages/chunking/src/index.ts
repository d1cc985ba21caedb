/** @garret/chunking: package entry point. */
export {};
