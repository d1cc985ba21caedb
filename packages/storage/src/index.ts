/** @garret/storage: where chunk files live (local directory in atticd's layout, or S3). */
export type {
  BatchReadOptions,
  LocalStorageConfig,
  S3StorageConfig,
  StorageBackend,
  StorageConfig,
} from "./backend.ts";
export { createStorage } from "./create-storage.ts";
export { LocalStorage } from "./local.ts";
export { objectNameProblem } from "./object-name.ts";
export { parseRemoteFile, type RemoteFile, remoteFileId, serializeRemoteFile } from "./remote-file.ts";
export { StorageError, type StorageErrorOptions } from "./storage-error.ts";
