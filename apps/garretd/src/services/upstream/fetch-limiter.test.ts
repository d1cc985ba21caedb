import { describe, expect, it } from "vitest";
import { createFetchLimiter } from "./fetch-limiter.ts";

describe("createFetchLimiter", () => {
  it("admits up to the fetch count, then queues in order", async () => {
    const limiter = createFetchLimiter(2, 1_000_000);
    const a = await limiter.acquire(10, 1000);
    const b = await limiter.acquire(10, 1000);
    expect(a && b).toBeTruthy();
    const order: string[] = [];
    const c = limiter.acquire(10, 5000).then((r) => {
      order.push("c");
      return r;
    });
    const d = limiter.acquire(10, 5000).then((r) => {
      order.push("d");
      return r;
    });
    expect(limiter.running).toBe(2);
    a?.();
    (await c)?.();
    b?.();
    (await d)?.();
    expect(order).toEqual(["c", "d"]);
    expect(limiter.running).toBe(0);
  });

  it("bounds the bytes in flight, but always admits one fetch", async () => {
    const limiter = createFetchLimiter(8, 100);
    const huge = await limiter.acquire(1000, 1000);
    expect(huge).not.toBeNull();
    expect(await limiter.acquire(1, 20)).toBeNull();
    huge?.();
    const small = await limiter.acquire(60, 1000);
    expect(await limiter.acquire(60, 20)).toBeNull();
    expect(await limiter.acquire(40, 20)).not.toBeNull();
    small?.();
  });

  it("gives up after the wait bound", async () => {
    const limiter = createFetchLimiter(1, 1000);
    const held = await limiter.acquire(1, 1000);
    const started = Date.now();
    expect(await limiter.acquire(1, 50)).toBeNull();
    expect(Date.now() - started).toBeGreaterThanOrEqual(40);
    held?.();
    expect(await limiter.acquire(1, 50)).not.toBeNull();
  });
});
