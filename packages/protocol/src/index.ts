/** @garret/protocol: attic's domain shared by garretd, the garret client and the tests. */

export * from "./api/v1/cache-config.ts";
export * from "./api/v1/cache-stats.ts";
export * from "./api/v1/chunk-upload.ts";
export * from "./api/v1/get-missing-paths.ts";
export * from "./api/v1/pins.ts";
export * from "./api/v1/store-path-hash.ts";
export * from "./api/v1/upload-path.ts";
export * from "./cache-name.ts";
export * from "./duration.ts";
export * from "./error-kinds.ts";
export * from "./glob.ts";
export * from "./permission.ts";
export * from "./text.ts";
