/** retryOnDeadlock: only deadlock victims run again, a bounded number of times. */
import { describe, expect, it } from "vitest";
import { retryOnDeadlock } from "./deadlock-retry.ts";

function deadlock(): Error {
  // drizzle wraps the driver's error; the SQLSTATE sits on the cause.
  return new Error("Failed query", {
    cause: Object.assign(new Error("deadlock detected"), { code: "40P01" }),
  });
}

describe("retryOnDeadlock", () => {
  it("runs a deadlocked statement again until it succeeds", async () => {
    let calls = 0;
    const result = await retryOnDeadlock(async () => {
      calls++;
      if (calls < 3) throw deadlock();
      return "done";
    });
    expect(result).toBe("done");
    expect(calls).toBe(3);
  });

  it("gives up after four attempts with the deadlock error", async () => {
    let calls = 0;
    await expect(
      retryOnDeadlock(async () => {
        calls++;
        throw deadlock();
      }),
    ).rejects.toThrow("Failed query");
    expect(calls).toBe(4);
  });

  it("never repeats a statement that failed otherwise", async () => {
    let calls = 0;
    const unique = Object.assign(new Error("duplicate key"), { code: "23505" });
    await expect(
      retryOnDeadlock(async () => {
        calls++;
        throw unique;
      }),
    ).rejects.toBe(unique);
    expect(calls).toBe(1);
  });
});
