/**
 * The closed set of error kinds that reach clients, with atticd's statuses and messages
 * (attic `server/src/error.rs`). The `error` field of every JSON error body is one of these names;
 * the real `attic` client prints `"{error}: {message}"`.
 *
 * Body shape: `{"code":404,"error":"NoSuchCache","message":"The requested cache does not exist."}`
 *
 * Difference from atticd: the "common component" errors (InvalidStorePathHash, InvalidCacheName, ...)
 * are client mistakes and answer 400 here; atticd answers them with 500 (see README).
 * `PermissionExceeded` and `IdTokenRejected` belong to garret's token administration extension
 * (`/_api/v1/tokens`, `/_api/v1/oidc/exchange`), which atticd does not have.
 */

export const ERROR_KINDS = [
  "NotFound",
  "Unauthorized",
  "InternalServerError",
  "NoSuchCache",
  "CacheAlreadyExists",
  "NoSuchObject",
  "InvalidCompressionType",
  "IncompleteNar",
  "AccessError",
  "RequestError",
  "InvalidStorePathHash",
  "InvalidStorePath",
  "InvalidCacheName",
  "PayloadTooLarge",
  "ServiceUnavailable",
  "PermissionExceeded",
  "IdTokenRejected",
] as const;

export type ErrorKind = (typeof ERROR_KINDS)[number];

export const ERROR_STATUS = {
  NotFound: 404,
  Unauthorized: 401,
  InternalServerError: 500,
  NoSuchCache: 404,
  CacheAlreadyExists: 400,
  NoSuchObject: 404,
  InvalidCompressionType: 400,
  IncompleteNar: 503,
  AccessError: 403,
  RequestError: 400,
  InvalidStorePathHash: 400,
  InvalidStorePath: 400,
  InvalidCacheName: 400,
  PayloadTooLarge: 413,
  ServiceUnavailable: 503,
  PermissionExceeded: 403,
  IdTokenRejected: 401,
} as const satisfies Record<ErrorKind, number>;

/** Client-facing messages; `{detail}` is replaced by the error's detail where the kind has one. */
export const ERROR_MESSAGE = {
  NotFound: "The URL you requested was not found.",
  Unauthorized: "Unauthorized.",
  InternalServerError: "The server encountered an internal error or misconfiguration.",
  NoSuchCache: "The requested cache does not exist.",
  CacheAlreadyExists: "The cache already exists.",
  NoSuchObject: "The requested object does not exist.",
  InvalidCompressionType: 'Invalid compression type "{detail}".',
  IncompleteNar: "The requested NAR has missing chunks and needs to be repaired.",
  AccessError: "Access error: User does not have permission to complete this action.",
  RequestError: "General request error: {detail}",
  InvalidStorePathHash: "Invalid store path hash: {detail}",
  InvalidStorePath: "Invalid store path: {detail}",
  InvalidCacheName: "Invalid cache name: {detail}",
  PayloadTooLarge: "Payload too large: {detail}",
  ServiceUnavailable: "Service temporarily unavailable: {detail}",
  PermissionExceeded: "The requested token would exceed the caller's own permissions: {detail}",
  IdTokenRejected: "Identity token rejected: {detail}",
} as const satisfies Record<ErrorKind, string>;

/** The JSON error envelope, shared by the server, the client and the tests. */
export interface ErrorBody {
  code: number;
  error: string;
  message: string;
}

export function formatErrorMessage(kind: ErrorKind, detail?: string): string {
  return ERROR_MESSAGE[kind].replace("{detail}", detail ?? "");
}

export function isErrorBody(value: unknown): value is ErrorBody {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.code === "number" && typeof v.error === "string" && typeof v.message === "string";
}
