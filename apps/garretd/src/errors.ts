/**
 * The one error model of garretd: every failure a handler raises becomes an `AtticError` kind, and
 * `errorResponse` turns it into atticd's `{code, error, message}` body. attic's two rewrites live
 * here and nowhere else:
 *   1. a caller that cannot discover the cache gets 401 `Unauthorized` instead of
 *      `NoSuchCache`/`NoSuchObject`/`AccessError`, so private caches do not leak their existence;
 *   2. a 401/403 for a request whose token was authentic but expired says so, with the expiry date
 *      (the request was treated as anonymous, which alone would puzzle its sender);
 *   3. internal failures (database, storage, bugs) become 500 `InternalServerError` with details in
 *      the log only, and unavailable dependencies become 503 `ServiceUnavailable`.
 */

import { ERROR_STATUS, type ErrorBody, type ErrorKind, formatErrorMessage } from "@garret/protocol";
import type { ErrorSource } from "./metrics/garret-metrics.ts";

export interface AtticErrorOptions {
  detail?: string;
  cause?: unknown;
  /** Whether the caller may learn that the cache exists; undefined = the rewrite does not apply. */
  canDiscover?: boolean;
}

export class AtticError extends Error {
  readonly kind: ErrorKind;
  readonly detail?: string;
  readonly canDiscover?: boolean;

  constructor(kind: ErrorKind, opts: AtticErrorOptions = {}) {
    super(opts.detail ? `${kind}: ${opts.detail}` : kind, { cause: opts.cause });
    this.name = "AtticError";
    this.kind = kind;
    this.detail = opts.detail;
    this.canDiscover = opts.canDiscover;
  }
}

export const requestError = (detail: string, cause?: unknown) =>
  new AtticError("RequestError", { detail, cause });

const HIDDEN_WITHOUT_DISCOVERY: ReadonlySet<ErrorKind> = new Set([
  "NoSuchCache",
  "NoSuchObject",
  "AccessError",
]);

const UNAVAILABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "57P01",
  "57P03",
  "53300",
  // A deadlock or serialization failure aborted the transaction; sending again succeeds.
  "40P01",
  "40001",
  "TimeoutError",
]);
/** node-postgres failing to connect or losing its connection: the database is unreachable. */
const DB_CONNECT_MESSAGE =
  /Connection terminated|connect ECONNREFUSED|timeout exceeded when trying to connect/i;
const SQLSTATE = /^[0-9A-Z]{5}$/;
/** node:sqlite's errors; SQLITE_BUSY and SQLITE_LOCKED mean another connection holds the file. */
const SQLITE_ERROR = "ERR_SQLITE_ERROR";
const SQLITE_BUSY_CODES = new Set([5, 6]);

interface FailureTraits {
  /** The database or storage is unreachable: a 503 and a retry. */
  unavailable: boolean;
  /**
   * A write lost its cache to a concurrent destroy (the object's foreign key to `cache` failed).
   * The caller was authorized when the request began, so it learns the cache is gone (404).
   */
  cacheGone: boolean;
  /** Storage errors are `StorageError`s (the backends wrap everything they raise); database errors
   * carry a SQLSTATE code or node:sqlite's code, come wrapped by drizzle, or are the pool failing to
   * connect. */
  source: ErrorSource;
}

/** One walk down the cause chain that says everything the error model needs about a failure. */
function traitsOf(err: unknown): FailureTraits {
  let unavailable = false;
  let cacheGone = false;
  let storage = false;
  let database = false;
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const { code, constraint, errcode } = e as { code?: unknown; constraint?: unknown; errcode?: unknown };
    if (e.name === "StorageError") storage = true;
    if (typeof code === "string" && UNAVAILABLE_CODES.has(code)) unavailable = true;
    if (code === SQLITE_ERROR && SQLITE_BUSY_CODES.has(errcode as number)) unavailable = true;
    if (DB_CONNECT_MESSAGE.test(e.message)) unavailable = true;
    if (code === "23503" && (constraint === "fk_object_cache" || e.message.includes("fk_object_cache"))) {
      cacheGone = true;
    }
    if (
      e.name === "DrizzleQueryError" ||
      (typeof code === "string" && SQLSTATE.test(code)) ||
      code === SQLITE_ERROR ||
      DB_CONNECT_MESSAGE.test(e.message)
    ) {
      database = true;
    }
  }
  const source: ErrorSource = storage ? "storage" : database ? "database" : "other";
  return { unavailable, cacheGone, source };
}

export interface ClassifiedError {
  status: number;
  body: ErrorBody;
  /** true when the failure is ours (logged at error level with the cause chain). */
  internal: boolean;
  /** For internal failures: which dependency it came from. */
  source: ErrorSource;
}

export function classifyError(err: unknown): ClassifiedError {
  if (err instanceof AtticError) {
    let kind = err.kind;
    if (err.canDiscover === false && HIDDEN_WITHOUT_DISCOVERY.has(kind)) kind = "Unauthorized";
    const detail = kind === err.kind ? err.detail : undefined;
    const internal = ERROR_STATUS[kind] >= 500 && kind !== "IncompleteNar";
    return {
      status: ERROR_STATUS[kind],
      body: { code: ERROR_STATUS[kind], error: kind, message: formatErrorMessage(kind, detail) },
      internal,
      source: internal ? traitsOf(err).source : "other",
    };
  }
  const traits = traitsOf(err);
  if (traits.cacheGone) return classifyError(new AtticError("NoSuchCache", { canDiscover: true }));
  if (traits.unavailable) {
    const kind: ErrorKind = "ServiceUnavailable";
    return {
      status: 503,
      body: { code: 503, error: kind, message: formatErrorMessage(kind, "a backing service is unreachable") },
      internal: true,
      source: traits.source,
    };
  }
  const kind: ErrorKind = "InternalServerError";
  return {
    status: 500,
    body: { code: 500, error: kind, message: formatErrorMessage(kind) },
    internal: true,
    source: traits.source,
  };
}

/** What is known about the caller that changes the answer to its failure. */
export interface CallerFacts {
  /** `exp` of the authentic token the request carried, which had expired. */
  expiredTokenAt?: number | undefined;
}

function explainExpiredToken(classified: ClassifiedError, expiredAt: number): ClassifiedError {
  const when = new Date(expiredAt * 1000).toISOString();
  const message = `${classified.body.message} The token sent expired at ${when}, so the request was anonymous; use a new token.`;
  return { ...classified, body: { ...classified.body, message } };
}

export function errorResponse(
  err: unknown,
  caller: CallerFacts = {},
): { response: Response; classified: ClassifiedError } {
  let classified = classifyError(err);
  if (caller.expiredTokenAt !== undefined && (classified.status === 401 || classified.status === 403)) {
    classified = explainExpiredToken(classified, caller.expiredTokenAt);
  }
  const response = new Response(JSON.stringify(classified.body), {
    status: classified.status,
    headers: { "content-type": "application/json" },
  });
  return { response, classified };
}
