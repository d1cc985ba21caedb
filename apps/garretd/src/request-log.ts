/**
 * The per-request access log line (debug level), written the same way whichever path answered the
 * request (the Hono pipeline in middleware/request-context.ts or a fast path of server.ts).
 * `requestLog` returns null when debug logging is off, so a hot path pays one null check.
 */
import type { Logger } from "./log.ts";

export interface RequestLogEntry {
  requestId: string;
  method: string;
  path: string | undefined;
  status: number;
  /** `performance.now()` when the request began. */
  started: number;
  sub: string | undefined;
}

export function requestLog(log: Logger): ((entry: RequestLogEntry) => void) | null {
  if (!log.isEnabled("debug")) return null;
  return ({ started, ...fields }) =>
    log.debug("request", { ...fields, ms: Math.round((performance.now() - started) * 100) / 100 });
}
