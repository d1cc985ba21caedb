/**
 * The operations endpoints inside one process: /healthz, /readyz (and 503 when a dependency is
 * down), /metrics after traffic, the metrics switched off on the main listener, and that caches
 * named like these endpoints keep working.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, SMALL_CHUNKING, type TestApp } from "../../../../test/support/app.ts";
import { lcgBytes, makeNar, narOfFile } from "../../../../test/support/nar.ts";
import { parsePrometheus } from "../../../../test/support/prometheus.ts";
import { pushNar } from "../../../../test/support/push-nar.ts";

let t: TestApp;
const asRoot = (path: string, init: RequestInit) => t.request(path, { ...init, token: t.rootToken });

beforeAll(async () => {
  t = await createTestApp({
    settings: {
      allowedHosts: ["cache.example"],
      readinessTimeoutMs: 300,
      chunking: SMALL_CHUNKING,
    },
  });
});
afterAll(() => t.close());

const withHost = { headers: { host: "cache.example" } };

describe("health and readiness", () => {
  it("answers /healthz and /readyz whatever the Host, without a token", async () => {
    const health = await t.request("/healthz");
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok" });
    const ready = await t.request("/readyz");
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: "ok", database: "ok", storage: "ok" });
  });

  it("answers 503 naming storage when storage fails its check", async () => {
    const check = t.deps.storage.check;
    t.deps.storage.check = () => Promise.reject(new Error("bucket gone"));
    try {
      const res = await t.request("/readyz");
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ status: "unavailable", database: "ok", storage: "down" });
    } finally {
      t.deps.storage.check = check;
    }
  });

  it("answers 503 naming the database when it does not answer in time", async () => {
    const ping = t.deps.db.ping;
    (t.deps.db as { ping: () => Promise<void> }).ping = () => new Promise(() => {});
    try {
      const started = Date.now();
      const res = await t.request("/readyz");
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ status: "unavailable", database: "down", storage: "ok" });
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      (t.deps.db as { ping: () => Promise<void> }).ping = ping;
    }
  });
});

describe("/metrics", () => {
  it("counts requests by route pattern and status, bytes, storage writes and errors", async () => {
    // As a real client does; app.request() does not add Content-Length itself.
    const request = (path: string, init: RequestInit) => {
      const headers: Record<string, string> = {
        ...withHost.headers,
        ...(init.headers as Record<string, string>),
      };
      if (Buffer.isBuffer(init.body)) headers["content-length"] = String(init.body.length);
      return asRoot(path, { ...init, headers });
    };
    await t.request("/_api/v1/cache-config/m", {
      method: "POST",
      token: t.rootToken,
      headers: { host: "cache.example", "content-type": "application/json" },
      body: JSON.stringify({
        keypair: "Generate",
        is_public: false,
        store_dir: "/nix/store",
        priority: 41,
        upstream_cache_key_names: [],
      }),
    });
    const nar = makeNar({
      type: "regular",
      contents: Buffer.concat(Array.from({ length: 10 }, () => lcgBytes(4000, 7))),
    });
    const first = await pushNar(request, "m", { nar, name: "big" });
    expect(first.status).toBe(200);
    const again = await pushNar(request, "m", { nar, name: "big-again" });
    expect(again.body.kind).toBe("Deduplicated");
    expect((await request(`/m/${first.hash}.narinfo`, {})).status).toBe(200);
    expect((await request("/m/00000000000000000000000000000000.narinfo", {})).status).toBe(404);

    const { put } = t.deps.storage;
    t.deps.storage.put = () =>
      Promise.reject(Object.assign(new Error("storage put failed"), { name: "StorageError" }));
    try {
      expect((await pushNar(request, "m", { contents: "fails to store" })).status).toBe(500);
    } finally {
      t.deps.storage.put = put;
    }

    const res = await t.request("/metrics");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const m = parsePrometheus(await res.text());
    expect(m.types.get("garret_http_request_duration_seconds")).toBe("histogram");
    expect(
      m.value("garret_http_requests_total", { route: "/_api/v1/upload-path", method: "PUT", status: "200" }),
    ).toBe(2);
    expect(
      m.value("garret_http_requests_total", { route: "/_api/v1/upload-path", method: "PUT", status: "500" }),
    ).toBe(1);
    expect(
      m.value("garret_http_requests_total", { route: "/:cache/:file", method: "GET", status: "200" }),
    ).toBe(1);
    expect(
      m.value("garret_http_requests_total", { route: "/:cache/:file", method: "GET", status: "404" }),
    ).toBe(1);
    expect(m.value("garret_http_request_duration_seconds_count", { route: "/_api/v1/upload-path" })).toBe(3);
    const failedNar = narOfFile("fails to store").length;
    expect(m.value("garret_upload_received_bytes_total")).toBe(2 * nar.length + failedNar);
    expect(m.value("garret_http_request_bytes_total", { route: "/_api/v1/upload-path" })).toBe(
      2 * nar.length + failedNar,
    );
    const written = m.value("garret_storage_written_bytes_total");
    expect(written).toBeGreaterThan(0);
    expect(written).toBeLessThan(nar.length);
    expect(m.value("garret_storage_operations_total", { op: "put" })).toBeGreaterThan(1);
    expect(m.value("garret_request_errors_total", { source: "storage" })).toBe(1);
    expect(m.value("garret_uploads_in_progress")).toBe(0);
    expect(m.value("garret_http_requests_in_flight")).toBe(1);
    // No cache names in label values.
    expect(
      m.samples.some(
        (s) => Object.values(s.labels).includes("m") || JSON.stringify(s.labels).includes("/m/"),
      ),
    ).toBe(false);
  });

  it("keeps single-segment ops paths apart from caches of the same names", async () => {
    for (const name of ["metrics", "healthz", "readyz"]) {
      await t.request(`/_api/v1/cache-config/${name}`, {
        method: "POST",
        token: t.rootToken,
        headers: { host: "cache.example", "content-type": "application/json" },
        body: JSON.stringify({
          keypair: "Generate",
          is_public: true,
          store_dir: "/nix/store",
          priority: 41,
          upstream_cache_key_names: [],
        }),
      });
      const info = await t.request(`/${name}/nix-cache-info`, withHost);
      expect(info.status).toBe(200);
      expect(await info.text()).toContain("StoreDir: /nix/store");
    }
    expect((await t.request("/metrics")).headers.get("content-type")).toMatch(/^text\/plain/);
    expect((await t.request("/healthz")).status).toBe(200);
  });

  it("is not served on the main listener when metrics-listen moves it", async () => {
    const other = await createTestApp({ db: t.db, settings: { metricsOnMainListener: false } });
    try {
      expect((await other.request("/metrics")).status).toBe(404);
      expect((await other.request("/healthz")).status).toBe(200);
    } finally {
      await other.close();
    }
  });
});
