import { describe, expect, it } from "vitest";
import { type CpuProfile, moduleOf, summariseProfile } from "./profile-summary.ts";

const profile: CpuProfile = {
  nodes: [
    { id: 1, callFrame: { functionName: "(root)", url: "", lineNumber: -1 }, children: [2, 3, 4, 5, 6] },
    { id: 2, callFrame: { functionName: "(idle)", url: "", lineNumber: -1 } },
    {
      id: 3,
      callFrame: { functionName: "sign", url: "file:///repo/packages/nix/src/signing.ts", lineNumber: 9 },
    },
    {
      id: 4,
      callFrame: { functionName: "", url: "file:///repo/node_modules/hono/dist/hono.js", lineNumber: 0 },
    },
    {
      id: 5,
      callFrame: { functionName: "writeGeneric", url: "node:internal/stream_base_commons", lineNumber: 3 },
      children: [7],
    },
    { id: 6, callFrame: { functionName: "fstat", url: "", lineNumber: -1 } },
    { id: 7, callFrame: { functionName: "writev", url: "", lineNumber: -1 } },
  ],
  startTime: 0,
  endTime: 1000,
  // Start-up (first 2 ms) is all in sign; then idle, sign, hono, node internals.
  samples: [3, 3, 2, 3, 3, 4, 5],
  timeDeltas: [1000, 1000, 1000, 1000, 1000, 1000, 2000],
};

describe("summariseProfile", () => {
  it("ranks self time per function and per module, excluding idle and the skipped start", () => {
    const s = summariseProfile(profile, { skipMs: 2.5, repoRoot: "/repo" });
    expect(s.windowMs).toBe(6);
    expect(s.busyMs).toBe(5);
    expect(s.topFunctions.map((f) => [f.name, f.ms])).toEqual([
      ["sign packages/nix/src/signing.ts:10", 2],
      ["writeGeneric node:internal/stream_base_commons:4", 2],
      ["(anonymous) hono:1", 1],
    ]);
    expect(s.topModules[0]).toEqual({ name: "packages/nix/src/signing.ts", ms: 2, percent: 40 });
  });

  it("counts everything without a skip", () => {
    expect(summariseProfile(profile, { repoRoot: "/repo" }).busyMs).toBe(7);
  });

  it("names builtins with their nearest JavaScript caller", () => {
    const withNative: CpuProfile = { ...profile, samples: [7, 7, 6], timeDeltas: [1000, 1000, 500] };
    const s = summariseProfile(withNative, { repoRoot: "/repo" });
    expect(s.nativeByCaller.map((e) => [e.name, e.ms])).toEqual([
      ["writev <- writeGeneric node:internal/stream_base_commons:4", 2],
      ["fstat <- (no JS caller)", 0.5],
    ]);
  });
});

describe("moduleOf", () => {
  it("names npm packages, scoped ones included, node internals and repository files", () => {
    expect(moduleOf("file:///x/node_modules/@hono/node-server/dist/index.mjs", "/x")).toBe(
      "@hono/node-server",
    );
    expect(moduleOf("node:internal/streams/readable", "/x")).toBe("node:internal/streams");
    expect(moduleOf("file:///x/apps/garretd/src/app.ts", "/x")).toBe("apps/garretd/src/app.ts");
    expect(moduleOf("", "/x")).toBe("(native/V8)");
  });
});
