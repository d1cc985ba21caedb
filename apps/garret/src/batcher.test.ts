import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Batcher } from "./batcher.ts";

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("Batcher", () => {
  it("releases after 2 s of quiet", async () => {
    const batches: number[][] = [];
    const b = new Batcher<number>(async (x) => void batches.push(x));
    b.add(1);
    await vi.advanceTimersByTimeAsync(1500);
    b.add(2);
    await vi.advanceTimersByTimeAsync(1999);
    expect(batches).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(batches).toEqual([[1, 2]]);
  });

  it("releases after 10 s even with steady input", async () => {
    const batches: number[][] = [];
    const b = new Batcher<number>(async (x) => void batches.push(x));
    for (let i = 0; i < 12; i++) {
      b.add(i);
      await vi.advanceTimersByTimeAsync(1000);
    }
    expect(batches[0]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await b.flush();
    expect(batches[1]).toEqual([10, 11]);
  });

  it("consumes batches one at a time, in order", async () => {
    const log: string[] = [];
    let release: () => void = () => {};
    const b = new Batcher<number>(async (x) => {
      log.push(`start ${x.join()}`);
      if (x[0] === 1)
        await new Promise<void>((r) => {
          release = r;
        });
      log.push(`end ${x.join()}`);
    });
    b.add(1);
    await vi.advanceTimersByTimeAsync(2000);
    b.add(2);
    await vi.advanceTimersByTimeAsync(2000);
    expect(log).toEqual(["start 1"]);
    release();
    await b.flush();
    expect(log).toEqual(["start 1", "end 1", "start 2", "end 2"]);
  });
});
