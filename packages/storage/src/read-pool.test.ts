/**
 * The read pool lends a slot once at a time: a slot comes back by `recycle` of the buffer it was lent
 * as (and only once), reads too big for every slot or beyond the limit get none, and a buffer that
 * was never lent changes nothing.
 */
import { describe, expect, it } from "vitest";
import { createReadPool } from "./read-pool.ts";

describe("read pool", () => {
  it("hands a recycled slot out again, and no slot twice while lent", () => {
    const pool = createReadPool();
    const a = pool.take(10_000);
    const b = pool.take(10_000);
    expect(a && b).toBeTruthy();
    expect(a?.memory).not.toBe(b?.memory);
    const lent = pool.lend(a as NonNullable<typeof a>, 10_000);
    expect(lent.length).toBe(10_000);
    pool.recycle(lent);
    pool.recycle(lent);
    const again = pool.take(5);
    expect(again?.memory).toBe(a?.memory);
    // Recycled twice, handed out once: the next slot is a new one.
    expect(pool.take(5)?.memory).not.toBe(a?.memory);
  });

  it("ignores buffers it never lent", () => {
    const pool = createReadPool();
    const slot = pool.take(100);
    pool.recycle(Buffer.alloc(100));
    expect(pool.take(100)?.memory).not.toBe(slot?.memory);
  });

  it("has no slot for reads bigger than its largest class, nor beyond a class's limit", () => {
    const pool = createReadPool();
    expect(pool.take(64 * 1024 * 1024)).toBeUndefined();
    const taken = [];
    for (let slot = pool.take(1024 * 1024); slot; slot = pool.take(1024 * 1024)) taken.push(slot);
    expect(taken.length).toBeGreaterThan(0);
    expect(taken.length).toBeLessThanOrEqual(64);
    pool.giveBack(taken[0] as (typeof taken)[number]);
    expect(pool.take(1024 * 1024)?.memory).toBe(taken[0]?.memory);
  });
});
