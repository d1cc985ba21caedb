/** The one-line notice printed before a retry, e.g. `⚠️  GET /_api/v1/cache-config/c failed (HTTP 502: …); retry 2 in 1.3 s`. */
export function formatRetry(what: string, error: unknown, attempt: number, delayMs: number): string {
  const reason = error instanceof Error ? error.message : String(error);
  return `⚠️  ${what} failed (${reason}); retry ${attempt} in ${(delayMs / 1000).toFixed(1)} s`;
}
