/** The GC entry point shared by garretd and garretadm records every run, dry run and failure in the metrics. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../../../../test/support/app.ts";
import { parsePrometheus } from "../../../../test/support/prometheus.ts";
import type { Config } from "../config/config.ts";
import { silentLogger } from "../log.ts";
import { createGarretMetrics } from "../metrics/garret-metrics.ts";
import { runConfiguredGc } from "./configured-gc.ts";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

// The part of Config that GC reads.
const config = {
  garbageCollection: { intervalSeconds: 0, defaultRetentionPeriodSeconds: 0 },
  garret: { gcPendingGraceSeconds: 3600 },
} as unknown as Config;

describe("runConfiguredGc", () => {
  it("counts runs, dry runs and failures in the metrics", async () => {
    const metrics = createGarretMetrics();
    const deps = { db: t.db, storage: t.storage, log: silentLogger(), metrics };
    const summary = await runConfiguredGc(config, deps);
    expect(summary.ran).toBe(true);
    await runConfiguredGc(config, deps, { dryRun: true });
    const broken = {
      ...deps,
      db: { ...t.db, withSession: () => Promise.reject(new Error("database gone")) },
    };
    await expect(runConfiguredGc(config, broken)).rejects.toThrow("database gone");

    const m = parsePrometheus(metrics.registry.render());
    expect(m.value("garret_gc_runs_total", { result: "ran" })).toBe(2);
    expect(m.value("garret_gc_runs_total", { result: "failed" })).toBe(1);
    expect(m.value("garret_gc_duration_seconds_count")).toBe(1);
    expect(m.value("garret_gc_freed_bytes_total")).toBe(0);
  });
});
