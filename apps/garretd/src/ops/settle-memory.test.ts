/**
 * settleMemoryAfterStart in a real Node process: with `gc` exposed (as garretd's launcher runs it)
 * it collects the garbage a start leaves behind, without it it does nothing and keeps no timer.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const MODULE = fileURLToPath(new URL("./settle-memory.ts", import.meta.url));

// 40 MB of short strings, unreachable once built; then heapUsed before and 200 ms after the call.
const SCRIPT = `
const { settleMemoryAfterStart } = await import(${JSON.stringify(MODULE)});
let garbage = Array.from({ length: 400_000 }, (_, i) => "x".repeat(80) + i);
garbage = null;
const before = process.memoryUsage().heapUsed;
settleMemoryAfterStart(50);
await new Promise((resolve) => setTimeout(resolve, 200).ref());
console.log(JSON.stringify({ before, after: process.memoryUsage().heapUsed }));
`;

function run(flags: string[]): Promise<{ before: number; after: number }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [...flags, "--input-type=module", "-e", SCRIPT],
      { env: { ...process.env, NODE_OPTIONS: "" } },
      (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout)),
    );
  });
}

describe("settleMemoryAfterStart", () => {
  it("collects what start-up left behind when gc is exposed", async () => {
    const { before, after } = await run(["--expose-gc"]);
    expect(before).toBeGreaterThan(30e6);
    expect(after).toBeLessThan(before - 25e6);
  });

  it("does nothing without gc, and does not keep the process alive", async () => {
    const { before, after } = await run([]);
    expect(after).toBeGreaterThan(30e6);
    expect(Math.abs(after - before)).toBeLessThan(10e6);
  });
});
