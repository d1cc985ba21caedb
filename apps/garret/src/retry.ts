/**
 * Retry with exponential backoff and jitter for transient failures (attic#239: one dropped
 * connection used to fail a whole `attic push`). The clock, sleep and randomness are injected so
 * the policy is testable without real waiting.
 *
 * Delay before retry n (0-based) = half of min(max, base·2ⁿ) plus a random share of the other half
 * ("equal jitter"), so parallel workers hitting the same outage spread out but still back off.
 */

export interface RetryPolicy {
  /** Total tries, the first included. */
  attempts: number;
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { attempts: 5, baseMs: 500, maxMs: 15_000 };

export interface RetryEnv {
  sleep: (ms: number) => Promise<void>;
  random: () => number;
}

export const realRetryEnv: RetryEnv = {
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  random: Math.random,
};

/** A failure worth trying again, with an optional server-requested minimum wait. */
export class TransientError extends Error {
  override readonly cause: unknown;
  readonly retryAfterMs?: number;

  constructor(cause: unknown, retryAfterMs?: number) {
    super(cause instanceof Error ? cause.message : String(cause));
    this.cause = cause;
    this.retryAfterMs = retryAfterMs;
  }
}

export function backoffDelay(retry: number, policy: RetryPolicy, random: () => number): number {
  const cap = Math.min(policy.maxMs, policy.baseMs * 2 ** retry);
  return Math.round(cap / 2 + random() * (cap / 2));
}

/** 408, 429 and 5xx except the ones that will not change on retry (501, 505). */
export function isRetryableStatus(status: number): boolean {
  return (
    status === 408 || status === 429 || (status >= 500 && status <= 599 && status !== 501 && status !== 505)
  );
}

const CONNECT_ERRORS = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_CONNECT_TIMEOUT",
]);
const MIDSTREAM_ERRORS = new Set([
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
]);

function errorCode(e: unknown): string | undefined {
  for (let cur: unknown = e, depth = 0; cur && depth < 5; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === "string") return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The request never reached the server, so even a non-idempotent call may be re-sent. */
export function isConnectError(e: unknown): boolean {
  const code = errorCode(e);
  return code !== undefined && CONNECT_ERRORS.has(code);
}

/** Any network-level failure (before or during the exchange). */
export function isNetworkError(e: unknown): boolean {
  const code = errorCode(e);
  return code !== undefined && (CONNECT_ERRORS.has(code) || MIDSTREAM_ERRORS.has(code));
}

/** Parses `Retry-After` (seconds or an HTTP date) into milliseconds. */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * Runs `fn` until it succeeds, throws a non-transient error, or the attempts are spent. `fn` signals
 * a retryable failure by throwing TransientError; the last one is rethrown unwrapped.
 */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  env: RetryEnv,
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      if (!(e instanceof TransientError)) throw e;
      if (attempt + 1 >= policy.attempts) throw e.cause;
      const delay = Math.min(
        Math.max(backoffDelay(attempt, policy, env.random), e.retryAfterMs ?? 0),
        policy.maxMs * 4,
      );
      onRetry?.(e.cause, attempt + 1, delay);
      await env.sleep(delay);
    }
  }
}
