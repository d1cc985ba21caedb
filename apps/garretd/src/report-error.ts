/**
 * What every failed request goes through, whichever way it was routed (Hono's `onError` or the
 * narinfo fast path): classify the error (errors.ts), log internal failures with their cause and
 * count them, log client mistakes at debug level only.
 */
import type { Deps } from "./deps.ts";
import { type ClassifiedError, errorResponse } from "./errors.ts";

export function reportRequestError(
  deps: Deps,
  err: unknown,
  request: {
    requestId: string | undefined;
    method: string;
    path: string;
    expiredTokenAt?: number | undefined;
    /** The client went away before its request was complete: logged at debug, never counted. */
    clientGone?: boolean;
  },
): { response: Response; classified: ClassifiedError } {
  const { expiredTokenAt, clientGone, ...fields } = request;
  const { response, classified } = errorResponse(err, { expiredTokenAt });
  const logged = { ...fields, status: classified.status };
  if (clientGone) {
    deps.log.debug("client went away", {
      ...logged,
      reason: err instanceof Error ? err.message : String(err),
    });
  } else if (classified.internal) {
    deps.metrics.requestErrors.inc({ source: classified.source });
    deps.log.error("request failed", { ...logged, err });
  } else {
    deps.log.debug("request rejected", {
      ...logged,
      error: classified.body.error,
      message: classified.body.message,
    });
  }
  return { response, classified };
}
