/**
 * garretd's launcher starts the server with the memory settings only a process start can take
 * (packages/cli/start-tuning.js): glibc's MALLOC_ARENA_MAX, V8's --max-semi-space-size,
 * --heap-growing-percent and --expose-gc (for the collection once start-up settles), by re-executing itself in place (same pid). An operator's own values are kept as given.
 */
import { readFile } from "node:fs/promises";
import { afterEach, describe, expect, it } from "vitest";
import { missingTuning } from "../../packages/cli/start-tuning.js";
import { type GarretdHandle, startGarretd } from "../support/garretd.ts";

async function processStart(pid: number): Promise<{ args: string[]; env: Map<string, string> }> {
  const split = (raw: string) => raw.split("\0").filter((s) => s.length > 0);
  const args = split(await readFile(`/proc/${pid}/cmdline`, "utf8"));
  const env = new Map(
    split(await readFile(`/proc/${pid}/environ`, "utf8")).map((kv) => {
      const eq = kv.indexOf("=");
      return [kv.slice(0, eq), kv.slice(eq + 1)] as [string, string];
    }),
  );
  return { args, env };
}

let g: GarretdHandle | undefined;
afterEach(async () => {
  await g?.stop();
  g = undefined;
});

describe("garretd start tuning", () => {
  it("re-executes itself once with MALLOC_ARENA_MAX=2, a fixed mmap threshold, 4 MB semi-spaces, old generations growing by half at most and gc exposed, keeping its pid and arguments", async () => {
    g = await startGarretd({ env: { NODE_OPTIONS: "" } });
    const res = await fetch(`${g.url}/healthz`);
    expect(res.status).toBe(200);
    const { args, env } = await processStart(g.pid as number);
    expect(env.get("MALLOC_ARENA_MAX")).toBe("2");
    expect(env.get("MALLOC_MMAP_THRESHOLD_")).toBe("131072");
    expect(args).toContain("--max-semi-space-size=4");
    expect(args).toContain("--heap-growing-percent=50");
    expect(args).toContain("--expose-gc");
    // The same command follows the added flags: launcher, config, listen address.
    expect(args.slice(args.indexOf("--expose-gc") + 1)[0]).toMatch(/garretd\.js$/);
    expect(args).toContain(g.configPath);
  });

  it("keeps an operator's own values and then does not re-execute", async () => {
    g = await startGarretd({
      env: {
        MALLOC_ARENA_MAX: "8",
        MALLOC_MMAP_THRESHOLD_: "65536",
        NODE_OPTIONS: "--max-semi-space-size=16 --expose-gc",
      },
    });
    // Node refuses --heap-growing-percent in NODE_OPTIONS: an operator gives it on the command line.
    await g.stopProcess();
    await g.startProcess({ nodeArgs: ["--heap-growing-percent=100"] });
    const { args, env } = await processStart(g.pid as number);
    expect(env.get("MALLOC_ARENA_MAX")).toBe("8");
    expect(env.get("MALLOC_MMAP_THRESHOLD_")).toBe("65536");
    expect(args.some((a) => a.startsWith("--max-semi-space-size"))).toBe(false);
    expect(args.filter((a) => a.startsWith("--heap-growing-percent"))).toEqual([
      "--heap-growing-percent=100",
    ]);
    expect(args).not.toContain("--expose-gc");
  });
});

describe("missingTuning", () => {
  it("names only what is missing, from the command line or NODE_OPTIONS", () => {
    expect(missingTuning([], {})).toEqual({
      flags: ["--max-semi-space-size=4", "--heap-growing-percent=50", "--expose-gc"],
      env: { MALLOC_ARENA_MAX: "2", MALLOC_MMAP_THRESHOLD_: "131072" },
    });
    expect(missingTuning(["--max-semi-space-size=8"], { MALLOC_MMAP_THRESHOLD_: "0" })).toEqual({
      flags: ["--heap-growing-percent=50", "--expose-gc"],
      env: { MALLOC_ARENA_MAX: "2" },
    });
    expect(
      missingTuning(["--expose-gc", "--heap-growing-percent=20"], {
        NODE_OPTIONS: "--foo --max-semi-space-size=1",
        MALLOC_ARENA_MAX: "4",
        MALLOC_MMAP_THRESHOLD_: "262144",
      }),
    ).toBeNull();
    expect(missingTuning(["--cpu-prof"], { MALLOC_ARENA_MAX: "1" })).toEqual({
      flags: ["--max-semi-space-size=4", "--heap-growing-percent=50", "--expose-gc"],
      env: { MALLOC_MMAP_THRESHOLD_: "131072" },
    });
  });
});
