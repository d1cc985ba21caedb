/**
 * The upload memory pool: never more lanes than the cap allows, the same buffers handed out again,
 * a freed lane going to the upload that waits longest, a 503 after the wait, uploads beyond the
 * prompt lanes waiting for a lane to come free before a new one is made, and a lane's buffers
 * taken in turn by its one upload.
 */
import { describe, expect, it } from "vitest";
import { AtticError } from "../errors.ts";
import {
  createIngestMemory,
  type IngestMemoryUsage,
  LaneBuffers,
  laneBytes,
  laneShape,
} from "./ingest-memory.ts";

const MAX_CHUNK = 256 * 1024;
const LANE = laneBytes(laneShape(MAX_CHUNK));

describe("ingest memory", () => {
  it("makes at most as many lanes as fit in the cap, and at least one", async () => {
    expect(createIngestMemory({ bytes: 1, waitMs: 10, maxChunkSize: MAX_CHUNK }).maxLanes).toBe(1);
    const memory = createIngestMemory({ bytes: 3 * LANE + LANE - 1, waitMs: 10, maxChunkSize: MAX_CHUNK });
    expect(memory.maxLanes).toBe(3);
    const lanes = [await memory.acquire(), await memory.acquire(), await memory.acquire()];
    expect(memory.usage()).toMatchObject({ held: 3, made: 3, bytes: 3 * LANE });
    expect(memory.usage().bytes).toBeLessThanOrEqual(3 * LANE + LANE - 1);
    await expect(memory.acquire()).rejects.toThrow(AtticError);
    for (const lane of lanes) lane.release();
    expect(memory.usage()).toMatchObject({ held: 0, made: 3, waiting: 0 });
  });

  it("refuses with ServiceUnavailable after the wait, telling the client to send again", async () => {
    const memory = createIngestMemory({ bytes: LANE, waitMs: 20, maxChunkSize: MAX_CHUNK });
    const lane = await memory.acquire();
    const refused = await memory.acquire().catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(AtticError);
    expect((refused as AtticError).kind).toBe("ServiceUnavailable");
    expect((refused as AtticError).detail).toMatch(/send the NAR again/);
    expect(memory.usage().waiting).toBe(0);
    lane.release();
  });

  it("hands a released lane, with the same buffers, to the upload waiting longest", async () => {
    const seen: IngestMemoryUsage[] = [];
    const memory = createIngestMemory({
      bytes: LANE,
      waitMs: 5000,
      maxChunkSize: MAX_CHUNK,
      observe: (u) => seen.push(u),
    });
    const first = await memory.acquire();
    const segment = await first.segments.take();
    const output = await first.outputs.take();
    first.segments.give(segment);
    first.outputs.give(output);
    const order: string[] = [];
    const second = memory.acquire().then((lane) => {
      order.push("second");
      return lane;
    });
    const third = memory.acquire().then((lane) => {
      order.push("third");
      return lane;
    });
    expect(memory.usage()).toMatchObject({ held: 1, made: 1, waiting: 2 });
    first.release();
    first.release(); // a second release is ignored
    const lane2 = await second;
    expect(order).toEqual(["second"]);
    const segments2 = [await lane2.segments.take(), await lane2.segments.take()];
    expect(segments2.map((s) => s.buffer)).toContain(segment.buffer);
    expect((await lane2.outputs.take()).buffer).toBe(output.buffer);
    lane2.release();
    (await third).release();
    expect(order).toEqual(["second", "third"]);
    expect(memory.usage()).toMatchObject({ held: 0, made: 1, waiting: 0 });
    expect(Math.max(...seen.map((u) => u.made))).toBe(1);
    expect(Math.max(...seen.map((u) => u.held))).toBe(1);
  });

  it("beyond promptLanes an upload takes a lane that comes free in time instead of a new one", async () => {
    const memory = createIngestMemory({
      bytes: 8 * LANE,
      waitMs: 5000,
      maxChunkSize: MAX_CHUNK,
      promptLanes: 2,
      promptWaitMs: 2000,
    });
    const [a, b] = [await memory.acquire(), await memory.acquire()];
    expect(memory.usage()).toMatchObject({ held: 2, made: 2 });
    // A third upload arrives while the first is finishing: it waits, and gets the first's lane.
    const third = memory.acquire();
    await new Promise((r) => setTimeout(r, 100));
    expect(memory.usage()).toMatchObject({ held: 2, made: 2, waiting: 1 });
    a.release();
    const c = await third;
    expect(memory.usage()).toMatchObject({ held: 2, made: 2, waiting: 0 });
    b.release();
    c.release();
  });

  it("beyond promptLanes an upload gets a new lane after promptWaitMs, within the cap", async () => {
    const memory = createIngestMemory({
      bytes: 3 * LANE,
      waitMs: 1000,
      maxChunkSize: MAX_CHUNK,
      promptLanes: 1,
      promptWaitMs: 100,
    });
    const held = [await memory.acquire()];
    const started = performance.now();
    held.push(await memory.acquire());
    expect(performance.now() - started).toBeGreaterThanOrEqual(90);
    held.push(await memory.acquire());
    expect(memory.usage()).toMatchObject({ held: 3, made: 3, waiting: 0 });
    // The cap is reached: the next one waits the whole wait, then gets its 503.
    await expect(memory.acquire()).rejects.toThrow(AtticError);
    expect(memory.usage()).toMatchObject({ held: 3, made: 3, waiting: 0 });
    for (const lane of held) lane.release();
  });

  it("a lane has segments with room for a largest chunk in front and outputs with room for codec overhead", () => {
    const shape = laneShape(MAX_CHUNK);
    expect(shape.headroom).toBe(MAX_CHUNK);
    expect(shape.segmentBytes).toBeGreaterThan(MAX_CHUNK);
    expect(shape.outputBytes).toBeGreaterThan(shape.segmentBytes);
    expect(shape.segments).toBe(shape.outputs + 1);
    expect(LANE).toBe(shape.segments * shape.segmentBytes + shape.outputs * shape.outputBytes);
  });
});

describe("lane buffers", () => {
  it("hands out each buffer once, and a given-back one to the taker that waits", async () => {
    const a = new Uint8Array(1);
    const b = new Uint8Array(1);
    const buffers = new LaneBuffers([a, b]);
    const taken = [await buffers.take(), await buffers.take()];
    expect(new Set(taken)).toEqual(new Set([a, b]));
    let third: Uint8Array | null = null;
    const waiting = buffers.take().then((buf) => {
      third = buf;
    });
    await Promise.resolve();
    expect(third).toBeNull();
    buffers.give(a);
    await waiting;
    expect(third).toBe(a);
  });
});
