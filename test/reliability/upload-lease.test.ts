/**
 * An upload that keeps making progress keeps its chunks, however long it takes, against the real
 * process (embedded database and Postgres): with `gc-pending-grace = "2s"` (not less: under
 * load, storing one batch of chunks can take a second) and the process collecting garbage every second, an attic-API upload whose first chunks are stored at once and
 * whose remaining bytes trickle in over several collections is acknowledged and then served intact
 * (also after more collections). Without lease refreshes GC took the first chunks as left by a dead upload
 * and collected them, and the commit referenced chunks that were gone.
 */
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DbKind, type GarretdHandle, startGarretd } from "../support/garretd.ts";
import { postgresTestUrl } from "../support/postgres.ts";
import { atticNarInfo, createCache, makePath, servedState, type TestPath } from "./support.ts";

const dbs: DbKind[] = postgresTestUrl() ? ["sqlite", "postgres"] : ["sqlite"];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * PUTs the NAR: `head` bytes at once, then the rest in pieces every `everyMs`, calling `during`
 * once the head is sent; resolves to the status and body once both are done.
 */
function trickleUpload(
  url: string,
  token: string,
  cache: string,
  p: TestPath,
  opts: { head: number; piece: number; everyMs: number; during: () => Promise<void> },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/_api/v1/upload-path`, {
      method: "PUT",
      headers: {
        authorization: `Bearer ${token}`,
        "x-attic-nar-info": JSON.stringify(atticNarInfo(cache, p)),
        "content-length": String(p.nar.length),
      },
    });
    req.on("error", reject);
    req.on("response", (res) => {
      const parts: Buffer[] = [];
      res.on("data", (d: Buffer) => parts.push(d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString() }));
      res.on("error", reject);
    });
    (async () => {
      req.write(p.nar.subarray(0, opts.head));
      let done = false;
      const during = opts.during().finally(() => {
        done = true;
      });
      let at = opts.head;
      // Trickle while GC runs; keep a tail for after it, so the commit comes after the collections.
      while (!done && at < p.nar.length - opts.piece) {
        await sleep(opts.everyMs);
        req.write(p.nar.subarray(at, at + opts.piece));
        at += opts.piece;
      }
      await during;
      req.end(p.nar.subarray(at));
    })().catch(reject);
  });
}

describe.each(dbs)("uploads refresh their leases while bytes flow [%s]", (db) => {
  let g: GarretdHandle;
  beforeAll(async () => {
    g = await startGarretd({
      db,
      // Small chunks: the first batch (64 chunks) is cut, stored and leased from the head alone.
      chunking: { narSizeThreshold: 1, minSize: 1024, avgSize: 4096, maxSize: 16_384 },
      extraToml: '[garret]\ngc-pending-grace = "2s"\n',
      gcInterval: "1s",
    });
    await createCache(g.url, g.rootToken, "slow");
  }, 120_000);
  afterAll(() => g?.stop());

  /** Collections the process has logged so far. */
  const collections = () => g.logs().split('"msg":"garbage collection: deleted').length - 1;

  /** Waits `ms`, then for `n` more collections. */
  async function collectionsAfter(ms: number, n: number): Promise<void> {
    await sleep(ms);
    const target = collections() + n;
    while (collections() < target) await sleep(100);
  }

  it("an upload trickling across GC runs longer than the grace period is stored and served intact", async () => {
    const p = makePath("slow-upload", 1_500_000, 71);
    const up = await trickleUpload(g.url, g.rootToken, "slow", p, {
      head: 1_000_000,
      piece: 1024,
      everyMs: 100,
      // The head's chunks are leased now; these collections start more than the grace period later.
      during: () => collectionsAfter(3000, 2),
    });
    const problems = g
      .logs()
      .split("\n")
      .filter((l) => /"level":"(error|warn)"/.test(l));
    expect(up.status, `${up.body}\n${problems.join("\n")}`).toBe(200);
    expect(await servedState(g.url, "slow", p, g.rootToken)).toBe("ok");

    await collectionsAfter(2500, 1);
    expect(await servedState(g.url, "slow", p, g.rootToken)).toBe("ok");
  }, 120_000);
});
