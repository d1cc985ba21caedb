/** Tracked work: `settled` waits for all of it (failures included), and gives up after its timeout. */
import { describe, expect, it } from "vitest";
import { createInFlight } from "./in-flight.ts";

describe("in-flight work", () => {
  it("settles once every tracked promise has, rejected ones included", async () => {
    const inFlight = createInFlight();
    const order: string[] = [];
    const slow = new Promise<void>((resolve) => setTimeout(resolve, 50)).then(() => order.push("slow"));
    const failing = inFlight.track(Promise.reject(new Error("client went away")));
    await expect(failing).rejects.toThrow("client went away");
    void inFlight.track(slow);
    expect(await inFlight.settled(5_000)).toBe(true);
    order.push("settled");
    expect(order).toEqual(["slow", "settled"]);
    expect(await inFlight.settled(0)).toBe(true);
  });

  it("gives up after the timeout while work is still running", async () => {
    const inFlight = createInFlight();
    void inFlight.track(new Promise(() => {}));
    expect(await inFlight.settled(30)).toBe(false);
  });
});
