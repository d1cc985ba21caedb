/** The Prometheus registry: text format (checked with a strict parser), label escaping, histogram buckets. */
import { describe, expect, it } from "vitest";
import { parsePrometheus } from "../../../../test/support/prometheus.ts";
import { MetricsRegistry } from "./registry.ts";

describe("MetricsRegistry", () => {
  it("renders counters, gauges and histograms in the text format", () => {
    const r = new MetricsRegistry();
    const requests = r.counter("t_requests_total", "Requests.", ["route", "status"]);
    const inFlight = r.gauge("t_in_flight", "In flight.");
    const latency = r.histogram("t_seconds", "Latency.", [0.1, 1], ["route"]);
    requests.inc({ route: "/:cache/:file", status: "200" });
    requests.inc({ route: "/:cache/:file", status: "200" }, 2);
    requests.inc({ route: 'we"ird\\\n', status: "500" });
    inFlight.inc();
    inFlight.inc();
    inFlight.dec();
    latency.observe({ route: "/" }, 0.05);
    latency.observe({ route: "/" }, 0.5);
    latency.observe({ route: "/" }, 5);

    const text = r.render();
    expect(text).toContain("# TYPE t_requests_total counter\n");
    expect(text).toContain('t_requests_total{route="/:cache/:file",status="200"} 3\n');
    expect(text).toContain('t_seconds_bucket{route="/",le="0.1"} 1\n');
    expect(text).toContain('t_seconds_bucket{route="/",le="1"} 2\n');
    expect(text).toContain('t_seconds_bucket{route="/",le="+Inf"} 3\n');
    const scrape = parsePrometheus(text);
    expect(scrape.value("t_requests_total", { route: 'we"ird\\\n' })).toBe(1);
    expect(scrape.value("t_in_flight")).toBe(1);
    expect(scrape.value("t_seconds_sum", { route: "/" })).toBeCloseTo(5.55);
    expect(scrape.value("t_seconds_count")).toBe(3);
  });

  it("shows unlabelled metrics at zero before their first event and refuses duplicates", () => {
    const r = new MetricsRegistry();
    r.counter("t_total", "Total.");
    expect(parsePrometheus(r.render()).has("t_total")).toBe(true);
    expect(() => r.gauge("t_total", "Again.")).toThrow(/twice/);
    expect(() => r.counter("t_other_total", "Other.").inc(-1)).toThrow(/only go up/);
  });
});
