/**
 * Which dependency an internal failure came from, for `garret_request_errors_total{source}`:
 * storage errors are always `StorageError`s (the backends wrap everything they raise), database
 * errors carry a SQLSTATE code, come wrapped by drizzle, or are the pool failing to connect.
 */
import type { ErrorSource } from "./garret-metrics.ts";

const SQLSTATE = /^[0-9A-Z]{5}$/;
const DB_CONNECT =
  /Connection terminated|timeout exceeded when trying to connect|connect ECONNREFUSED|PGlite is closed/i;

export function errorSource(err: unknown): ErrorSource {
  let database = false;
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e.name === "StorageError") return "storage";
    const code = (e as { code?: unknown }).code;
    if (
      e.name === "DrizzleQueryError" ||
      (typeof code === "string" && SQLSTATE.test(code)) ||
      DB_CONNECT.test(e.message)
    ) {
      database = true;
    }
  }
  return database ? "database" : "other";
}
