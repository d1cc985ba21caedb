/**
 * The one error class storage backends throw. `op` and `key` say what failed; `notFound` lets
 * callers answer a miss (e.g. 503 IncompleteNar) without parsing messages. For S3 the service's
 * error code, HTTP status and request id are copied onto the error and into the message, because
 * atticd's opaque "service error" messages made S3 problems undiagnosable (zhaofengli/attic#232).
 * Messages never contain credentials or presigned URLs; `cause` keeps the underlying error for logs.
 */

export interface StorageErrorOptions {
  notFound?: boolean;
  cause?: unknown;
  /** S3 error code such as `NoSuchBucket` or `AccessDenied`. */
  code?: string;
  httpStatus?: number;
  requestId?: string;
}

export class StorageError extends Error {
  override readonly name = "StorageError";
  readonly op: string;
  readonly key: string;
  readonly notFound: boolean;
  readonly code: string | undefined;
  readonly httpStatus: number | undefined;
  readonly requestId: string | undefined;

  constructor(op: string, key: string, detail: string, options: StorageErrorOptions = {}) {
    super(`storage ${op} of "${key}" failed: ${detail}`, { cause: options.cause });
    this.op = op;
    this.key = key;
    this.notFound = options.notFound ?? false;
    this.code = options.code;
    this.httpStatus = options.httpStatus;
    this.requestId = options.requestId;
  }
}
