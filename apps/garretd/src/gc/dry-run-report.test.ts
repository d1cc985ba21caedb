/** `--dry-run`: the flag's parsing and the report garbage-collector-once prints with it. */
import { describe, expect, it } from "vitest";
import { ArgsError, parseGarretdArgs } from "../config/args.ts";
import { formatDryRun } from "./dry-run-report.ts";
import type { GcSummary } from "./run-gc.ts";

const base: GcSummary = {
  ran: true,
  dryRun: true,
  fullSweep: false,
  objects: 2,
  nars: 1,
  chunks: 3,
  bytes: 4096,
  failedDeletions: 0,
  ms: 5,
};

describe("--dry-run", () => {
  it("is accepted with garbage-collector-once only", () => {
    expect(parseGarretdArgs(["--mode", "garbage-collector-once", "--dry-run"])).toMatchObject({
      dryRun: true,
    });
    expect(parseGarretdArgs(["--mode", "garbage-collector-once"]).dryRun).toBeUndefined();
    expect(() => parseGarretdArgs(["--dry-run"])).toThrow(ArgsError);
  });

  it("reports totals and the paths, aligned by cache", () => {
    const text = formatDryRun({
      ...base,
      paths: [
        { cache: "a", storePath: "/nix/store/x-one" },
        { cache: "long", storePath: "/nix/store/y-two" },
      ],
    });
    expect(text).toBe(
      "garbage collection dry run: 2 objects, 1 NARs, 3 chunks, 4096 bytes would be deleted\n" +
        "a     /nix/store/x-one\nlong  /nix/store/y-two\n",
    );
    expect(formatDryRun({ ...base, objects: 5, paths: [] })).toContain("(5 more not listed)");
    expect(formatDryRun({ ...base, ran: false })).toMatch(/skipped/);
  });
});
