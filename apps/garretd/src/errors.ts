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

/** Recognises failures of the database or storage being unreachable, which deserve a 503 and a retry. */
function isUnavailable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && UNAVAILABLE_CODES.has(code)) return true;
    if (/Connection terminated|connect ECONNREFUSED|timeout exceeded when trying to connect/i.test(e.message))
      return true;
  }
  return false;
}
const UNAVAILABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "57P01",
  "57P03",
  "53300",
  "TimeoutError",
]);

/**
 * A write that lost its cache to a concurrent destroy: the object's foreign key to `cache` fails.
 * The caller was authorized when the request began, so it learns the cache is gone (404).
 */
function isCacheGone(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const { code, constraint } = e as { code?: unknown; constraint?: unknown };
    if (code === "23503" && (constraint === "fk_object_cache" || e.message.includes("fk_object_cache"))) {
      return true;
    }
  }
  return false;
}

export interface ClassifiedError {
  status: number;
  body: ErrorBody;
  /** true when the failure is ours (logged at error level with the cause chain). */
  internal: boolean;
}

export function classifyError(err: unknown): ClassifiedError {
  if (err instanceof AtticError) {
    let kind = err.kind;
    if (err.canDiscover === false && HIDDEN_WITHOUT_DISCOVERY.has(kind)) kind = "Unauthorized";
    const detail = kind === err.kind ? err.detail : undefined;
    return {
      status: ERROR_STATUS[kind],
      body: { code: ERROR_STATUS[kind], error: kind, message: formatErrorMessage(kind, detail) },
      internal: ERROR_STATUS[kind] >= 500 && kind !== "IncompleteNar",
    };
  }
  if (isCacheGone(err)) return classifyError(new AtticError("NoSuchCache", { canDiscover: true }));
  if (isUnavailable(err)) {
    const kind: ErrorKind = "ServiceUnavailable";
    return {
      status: 503,
      body: { code: 503, error: kind, message: formatErrorMessage(kind, "a backing service is unreachable") },
      internal: true,
    };
  }
  const kind: ErrorKind = "InternalServerError";
  return { status: 500, body: { code: 500, error: kind, message: formatErrorMessage(kind) }, internal: true };
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
