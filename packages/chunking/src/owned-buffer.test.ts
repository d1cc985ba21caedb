/** freeNow / spansWholeBuffer: only buffers that are the caller's own are freed. */
import { describe, expect, it } from "vitest";
import { freeNow, spansWholeBuffer } from "./owned-buffer.ts";

describe("freeNow", () => {
  it("frees the whole private buffer behind a view or a whole array", () => {
    const whole = new Uint8Array(100_000).fill(7);
    expect(spansWholeBuffer(whole)).toBe(true);
    freeNow(whole);
    expect(whole.byteLength).toBe(0);
    expect(whole.buffer.detached).toBe(true);
    const backing = new Uint8Array(131_072);
    const view = backing.subarray(0, 30_000);
    expect(spansWholeBuffer(view)).toBe(false);
    freeNow(view);
    expect(backing.byteLength).toBe(0);
  });

  it("leaves pooled Buffers, SharedArrayBuffers and freed buffers alone", () => {
    const pooled = Buffer.from("small, from the Buffer pool");
    expect(spansWholeBuffer(pooled)).toBe(false);
    freeNow(pooled);
    expect(pooled.toString()).toBe("small, from the Buffer pool");
    const shared = new Uint8Array(new SharedArrayBuffer(100_000));
    expect(spansWholeBuffer(shared)).toBe(false);
    freeNow(shared);
    expect(shared.byteLength).toBe(100_000);
    const gone = new Uint8Array(100_000);
    freeNow(gone);
    expect(spansWholeBuffer(gone)).toBe(false);
    expect(() => freeNow(gone)).not.toThrow();
  });
});
