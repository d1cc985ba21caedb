/** @garret/db: package entry point. */
export {};
