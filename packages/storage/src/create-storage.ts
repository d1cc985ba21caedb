/** Opens the backend a `[storage]` config describes. */
import type { StorageBackend, StorageConfig } from "./backend.ts";
import { LocalStorage } from "./local.ts";

/**
 * Local storage is prepared on open (directory, VERSION, v0 layout migration). S3 makes no request
 * here, so a server can start while S3 is briefly unreachable; `check()` is the readiness probe.
 */
export async function createStorage(config: StorageConfig): Promise<StorageBackend> {
  if (config.type === "local") return LocalStorage.open(config);
  // Loaded only when used: the AWS SDK is ~20 MiB of memory a local-storage server never needs.
  const { S3Storage } = await import("./s3.ts");
  return new S3Storage(config);
}
