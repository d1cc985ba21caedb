import { describe, expect, it } from "vitest";
import {
  backoffDelay,
  isConnectError,
  isNetworkError,
  isRetryableStatus,
  parseRetryAfter,
  type RetryEnv,
  TransientError,
  withRetry,
} from "./retry.ts";

const policy = { attempts: 4, baseMs: 100, maxMs: 1000 };

function fakeEnv(random = 0.5): RetryEnv & { slept: number[] } {
  const slept: number[] = [];
  return { slept, sleep: async (ms) => void slept.push(ms), random: () => random };
}

describe("backoff", () => {
  it("doubles, caps and jitters within [cap/2, cap]", () => {
    expect([0, 1, 2, 3, 4, 5].map((n) => backoffDelay(n, policy, () => 0))).toEqual([
      50, 100, 200, 400, 500, 500,
    ]);
    expect([0, 1, 2, 3, 4, 5].map((n) => backoffDelay(n, policy, () => 1))).toEqual([
      100, 200, 400, 800, 1000, 1000,
    ]);
  });

  it("classifies statuses", () => {
    expect([408, 429, 500, 502, 503, 504].every(isRetryableStatus)).toBe(true);
    expect([400, 401, 403, 404, 413, 501, 505].some(isRetryableStatus)).toBe(false);
  });

  it("classifies network errors through the fetch cause chain", () => {
    const refused = new TypeError("fetch failed", {
      cause: Object.assign(new Error("x"), { code: "ECONNREFUSED" }),
    });
    const reset = new TypeError("fetch failed", {
      cause: Object.assign(new Error("x"), { code: "ECONNRESET" }),
    });
    expect(isConnectError(refused)).toBe(true);
    expect(isConnectError(reset)).toBe(false);
    expect(isNetworkError(reset)).toBe(true);
    expect(isNetworkError(new Error("plain"))).toBe(false);
  });

  it("parses Retry-After", () => {
    expect(parseRetryAfter("3", 0)).toBe(3000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4000)).toBe(6000);
    expect(parseRetryAfter(null, 0)).toBeUndefined();
    expect(parseRetryAfter("soon", 0)).toBeUndefined();
  });
});

describe("withRetry", () => {
  it("retries transient failures with growing delays, then succeeds", async () => {
    const env = fakeEnv();
    const seen: number[] = [];
    const result = await withRetry(
      async (attempt) => {
        seen.push(attempt);
        if (attempt < 2) throw new TransientError(new Error(`boom ${attempt}`));
        return "ok";
      },
      policy,
      env,
    );
    expect(result).toBe("ok");
    expect(seen).toEqual([0, 1, 2]);
    expect(env.slept).toEqual([75, 150]);
  });

  it("gives up after the last attempt and rethrows the underlying error", async () => {
    const env = fakeEnv(0);
    const retries: number[] = [];
    const err = await withRetry(
      async (attempt) => {
        throw new TransientError(new Error(`boom ${attempt}`));
      },
      policy,
      env,
      (_e, n) => retries.push(n),
    ).catch((e: unknown) => e);
    expect((err as Error).message).toBe("boom 3");
    expect(retries).toEqual([1, 2, 3]);
    expect(env.slept).toEqual([50, 100, 200]);
  });

  it("does not retry permanent errors and honours Retry-After", async () => {
    const env = fakeEnv(0);
    await expect(
      withRetry(
        async () => {
          throw new Error("permanent");
        },
        policy,
        env,
      ),
    ).rejects.toThrow("permanent");
    expect(env.slept).toEqual([]);
    let calls = 0;
    await withRetry(
      async () => {
        if (calls++ === 0) throw new TransientError(new Error("429"), 700);
        return 1;
      },
      policy,
      env,
    );
    expect(env.slept).toEqual([700]);
  });
});
