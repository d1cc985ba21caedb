/**
 * The SQLite connection's statement cache keeps what is worth keeping: statements with a list of
 * values written into their text (a big NAR's chunk ids) differ on every call, so they are not
 * kept, and a long upload does not leave hundreds of them (text and compiled program) in memory.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { expect, it } from "vitest";
import { createDb } from "./client.ts";

setFlagsFromString("--expose-gc");
const collect = runInNewContext("gc") as () => void;

function heapUsed(): number {
  collect();
  collect();
  return process.memoryUsage().heapUsed;
}

it("statements with long value lists are answered but not kept", async () => {
  const db = await createDb({ kind: "sqlite", path: ":memory:" });
  try {
    // Warm the connection, then 300 statements of ~60 KB text each, every one different.
    await db.query("SELECT 1 AS one", []);
    const before = heapUsed();
    for (let n = 0; n < 300; n++) {
      const values = Array.from({ length: 10_000 + n }, (_, i) => i).join(",");
      const rows = await db.query<{ hit: number }>(`SELECT ? IN (${values}) AS hit`, [n]);
      expect(rows[0]?.hit).toBe(1);
    }
    // Kept, their texts alone would be ~18 MB of heap.
    expect(heapUsed() - before).toBeLessThan(4 * 1024 * 1024);
  } finally {
    await db.close();
  }
});
