/**
 * Turning AWS SDK failures into StorageError with everything an operator needs to diagnose them:
 * the operation, the key, the S3 error code, the HTTP status and the request id (S3's
 * `x-amz-request-id`, which a provider's support asks for). atticd printed only "service error"
 * (zhaofengli/attic#232, #109). Network failures keep their errno code (ECONNREFUSED, ETIMEDOUT).
 */
import { StorageError } from "./storage-error.ts";

/** Codes meaning "no such object"; a HEAD has no body, so its 404 arrives as plain `NotFound`. */
const NOT_FOUND_CODES = new Set(["NoSuchKey", "NotFound"]);

/**
 * Wraps `err` for operation `op` on `key`. `secrets` are scrubbed from the message in case a
 * provider ever echoes one back; the SDK itself never puts them in errors.
 */
export function s3Error(
  op: string,
  key: string,
  err: unknown,
  secrets: readonly string[] = [],
): StorageError {
  if (err instanceof StorageError) return err;
  const fields = errorFields(err);
  const code = fields.code;
  const notFound = code !== undefined && NOT_FOUND_CODES.has(code) && fields.httpStatus !== 403;
  const parts: string[] = [];
  if (code !== undefined) parts.push(code);
  if (fields.httpStatus !== undefined) parts.push(`HTTP ${fields.httpStatus}`);
  if (fields.requestId !== undefined) parts.push(`request id ${fields.requestId}`);
  if (fields.attempts !== undefined && fields.attempts > 1) parts.push(`${fields.attempts} attempts`);
  let detail = `S3 ${parts.length > 0 ? `${parts.join(", ")}: ` : ""}${fields.message}`;
  for (const secret of secrets) {
    if (secret.length > 0) detail = detail.split(secret).join("[redacted]");
  }
  return new StorageError(op, key, detail, {
    notFound,
    cause: err,
    code,
    httpStatus: fields.httpStatus,
    requestId: fields.requestId,
  });
}

interface ErrorFields {
  code: string | undefined;
  message: string;
  httpStatus: number | undefined;
  requestId: string | undefined;
  attempts: number | undefined;
}

function errorFields(err: unknown): ErrorFields {
  if (typeof err !== "object" || err === null) {
    return {
      code: undefined,
      message: String(err),
      httpStatus: undefined,
      requestId: undefined,
      attempts: undefined,
    };
  }
  const record = err as Record<string, unknown>;
  const metadata = (
    typeof record.$metadata === "object" && record.$metadata !== null ? record.$metadata : {}
  ) as Record<string, unknown>;
  // Service errors carry the S3 code as `name` (and `Code`); network errors carry an errno `code`.
  const serviceCode = typeof record.Code === "string" ? record.Code : undefined;
  const errnoCode = typeof record.code === "string" ? record.code : undefined;
  const name = typeof record.name === "string" && record.name !== "Error" ? record.name : undefined;
  const httpStatus = typeof metadata.httpStatusCode === "number" ? metadata.httpStatusCode : undefined;
  const code = serviceCode ?? (httpStatus !== undefined ? name : undefined) ?? errnoCode ?? name;
  const message =
    typeof record.message === "string" && record.message.length > 0 ? record.message : "unknown error";
  return {
    code,
    message,
    httpStatus,
    requestId: typeof metadata.requestId === "string" ? metadata.requestId : undefined,
    attempts: typeof metadata.attempts === "number" ? metadata.attempts : undefined,
  };
}
