/**
 * The upload memory cap (`[garret] upload-memory`, services/ingest-memory.ts) against the real
 * garretd process, configured with room for one upload being chunked: an upload that cannot get
 * memory within `upload-memory-wait` is refused with a clean 503 that stores nothing and succeeds
 * when sent again; under many concurrent uploads every one is either stored intact or a 503, never
 * a 500, and nothing acknowledged is lost.
 */

import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectSameBytes } from "../support/bytes.ts";
import { createCacheOver } from "../support/cache-api.ts";
import { type DbKind, type GarretdHandle, startGarretd } from "../support/garretd.ts";
import { lcgBytes, makeNar, randomStorePathHash } from "../support/nar.ts";
import { postgresTestUrl } from "../support/postgres.ts";
import { parsePrometheus } from "../support/prometheus.ts";
import { narInfoForNar } from "../support/upload-info.ts";
import { zstdDecompressSync } from "../support/zstd.ts";

const dbs: DbKind[] = postgresTestUrl() ? ["sqlite", "postgres"] : ["sqlite"];
const CACHE = "memory";
/** Less than one lane: the server makes one, the least it runs with. */
const POOL = '[garret]\nupload-memory = 1048576\nupload-memory-wait = "1s"\n';

interface Path {
  hash: string;
  nar: Buffer;
}

function newPath(size: number, seed: number): Path {
  return { hash: randomStorePathHash(), nar: makeNar({ type: "regular", contents: lcgBytes(size, seed) }) };
}

describe.each(dbs)("upload memory cap (%s + local)", (db) => {
  let g: GarretdHandle;

  const headers = (p: Path) => ({
    authorization: `Bearer ${g.rootToken}`,
    "x-attic-nar-info": JSON.stringify(narInfoForNar(CACHE, p.nar, { hash: p.hash, name: "memory-test" })),
  });
  const upload = (p: Path) =>
    fetch(`${g.url}/_api/v1/upload-path`, { method: "PUT", headers: headers(p), body: p.nar });
  const expectServed = async (p: Path) => {
    const res = await fetch(`${g.url}/${CACHE}/nar/${p.hash}.nar`);
    expect(res.status).toBe(200);
    expectSameBytes(zstdDecompressSync(Buffer.from(await res.arrayBuffer())), p.nar);
  };
  const expectAbsent = async (p: Path) => {
    expect((await fetch(`${g.url}/${CACHE}/${p.hash}.narinfo`)).status).toBe(404);
  };

  beforeAll(async () => {
    g = await startGarretd({ db, storage: "local", extraToml: POOL });
    await createCacheOver(g.url, g.rootToken, CACHE, { isPublic: true });
  });
  afterAll(() => g?.stop());

  it("an upload that finds the memory taken for longer than the wait gets a 503, stores nothing, and succeeds when sent again", async () => {
    const slow = newPath(6_000_000, 21);
    const other = newPath(3_000_000, 22);
    // The slow upload sends half its NAR (enough to be chunking, so it holds the only lane), then
    // pauses for longer than the wait (and less than the idle timeout), then sends the rest.
    let resumeSlow: () => void = () => {};
    const slowDone = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${g.url}/_api/v1/upload-path`, {
        method: "PUT",
        headers: { ...headers(slow), "transfer-encoding": "chunked" },
      });
      req.on("error", reject);
      req.on("response", (res) => {
        let body = "";
        res.on("data", (d: Buffer) => {
          body += d.toString();
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      const half = slow.nar.length / 2;
      req.write(slow.nar.subarray(0, half));
      resumeSlow = () => req.end(slow.nar.subarray(half));
    });
    // Until the slow upload holds the lane, the other one could take it.
    await waitForMetric(g, "garret_upload_memory_uploads", 1);

    const refusing = upload(other);
    await waitForMetric(g, "garret_upload_memory_waiting", 1);
    const refused = await refusing;
    expect(refused.status).toBe(503);
    const body = (await refused.json()) as { code: number; error: string; message: string };
    expect(body.code).toBe(503);
    expect(body.error).toBe("ServiceUnavailable");
    expect(body.message).toMatch(/send the NAR again/);
    await expectAbsent(other);

    resumeSlow();
    const slowResult = await slowDone;
    expect(slowResult.status, slowResult.body).toBe(200);
    await expectServed(slow);

    const again = await upload(other);
    expect(again.status, await again.text()).toBe(200);
    await expectServed(other);
    // Both uploads were chunked in the same single lane, the cap.
    await expectPoolWithinOneLane(g);
  });

  it("many concurrent uploads: each is stored intact or refused with a 503, and the refused succeed when sent again", async () => {
    const paths = Array.from({ length: 8 }, (_, i) => newPath(2_500_000 + i * 100_000, 100 + i));
    const results = await Promise.all(paths.map(async (p) => ({ p, res: await upload(p) })));
    const refused: Path[] = [];
    for (const { p, res } of results) {
      const text = await res.text();
      expect([200, 503], text).toContain(res.status);
      if (res.status === 503) {
        expect(JSON.parse(text)).toMatchObject({ code: 503, error: "ServiceUnavailable" });
        await expectAbsent(p);
        refused.push(p);
      } else {
        await expectServed(p);
      }
    }
    for (const p of refused) {
      const res = await upload(p);
      expect(res.status, await res.text()).toBe(200);
      await expectServed(p);
    }
    await expectPoolWithinOneLane(g);
  });
});

async function metric(g: GarretdHandle, name: string): Promise<number> {
  return parsePrometheus(await (await fetch(`${g.url}/metrics`)).text()).value(name);
}

async function waitForMetric(g: GarretdHandle, name: string, value: number): Promise<void> {
  while ((await metric(g, name)) !== value) await new Promise((resolve) => setTimeout(resolve, 20));
}

/** One lane with the test's chunking (max-size 256 KiB): 2 segments of 4.25 MiB and one output buffer. */
async function expectPoolWithinOneLane(g: GarretdHandle): Promise<void> {
  expect(await metric(g, "garret_upload_memory_uploads")).toBe(0);
  expect(await metric(g, "garret_upload_memory_waiting")).toBe(0);
  const bytes = await metric(g, "garret_upload_memory_bytes");
  expect(bytes).toBeGreaterThan(0);
  expect(bytes).toBeLessThan(16 * 1024 * 1024);
}
