/** Opens the backend a `[storage]` config describes. */
import type { StorageBackend, StorageConfig } from "./backend.ts";
import { LocalStorage } from "./local.ts";
import { S3Storage } from "./s3.ts";

/**
 * Local storage is prepared on open (directory, VERSION, v0 layout migration). S3 makes no request
 * here, so a server can start while S3 is briefly unreachable; `check()` is the readiness probe.
 */
export async function createStorage(config: StorageConfig): Promise<StorageBackend> {
  if (config.type === "local") return LocalStorage.open(config);
  return new S3Storage(config);
}
