/**
 * Operations on the real process: `[garret] log-level` and `metrics-listen` from server.toml,
 * /metrics scraped and parsed after a push and a pull, /readyz answering 503 when S3 stops (s3rver
 * closed) or the database goes away (Postgres behind a TCP relay that the test closes), and no
 * secret in the debug log of a whole upload/download/token flow: not the tokens (valid or
 * refused), not the signing secret, not a presigned URL's query string.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseNarInfo } from "@garret/nix";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../support/garretd.ts";
import { spawnGarretd, writeClusterConfig } from "../support/garretd-cluster.ts";
import { lcgBytes, makeNar } from "../support/nar.ts";
import { createTestDatabase, postgresTestUrl } from "../support/postgres.ts";
import { parsePrometheus } from "../support/prometheus.ts";
import { httpRequester, pushNar } from "../support/push-nar.ts";
import { startS3rver } from "../support/s3rver.ts";

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "garret-ops-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const cacheBody = (isPublic: boolean) =>
  JSON.stringify({
    keypair: "Generate",
    is_public: isPublic,
    store_dir: "/nix/store",
    priority: 41,
    upstream_cache_key_names: [],
  });

async function readyz(url: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${url}/readyz`);
  return { status: res.status, body: await res.json() };
}

describe("garretd on S3 with [garret] log-level and metrics-listen", () => {
  it("serves metrics on their own address, logs no secrets, and reports S3 going down", async () => {
    const dir = await tempDir();
    const s3 = await startS3rver();
    cleanups.push(s3.stop);
    const metricsPort = await freePort();
    const config = await writeClusterConfig({
      dir,
      storage: { type: "s3", s3 },
      extraToml: `[garret]\nlog-level = "debug"\nmetrics-listen = "127.0.0.1:${metricsPort}"\n`,
    });
    const server = await spawnGarretd({ configPath: config.configPath, dir }, "monolithic");
    cleanups.push(server.stop);
    await server.waitForLog('"msg":"metrics listening"');
    const metricsUrl = `http://127.0.0.1:${metricsPort}`;

    const root = httpRequester(server.url, config.rootToken);
    // Public, so an anonymous NAR download is redirected to a presigned URL (requests with
    // credentials are streamed instead); the private one is for refused tokens.
    expect((await root("/_api/v1/cache-config/ops", { method: "POST", body: cacheBody(true) })).status).toBe(
      200,
    );
    expect(
      (await root("/_api/v1/cache-config/closed", { method: "POST", body: cacheBody(false) })).status,
    ).toBe(200);
    const reader = await config.mintToken("reader", { closed: ["r"] });
    const refused = `${config.rootToken.slice(0, -6)}AAAAAA`;
    const nar = makeNar({ type: "regular", contents: lcgBytes(10_000, 9) });
    const pushed = await pushNar(root, "ops", { nar, name: "observed" });
    expect(pushed.status).toBe(200);
    const info = parseNarInfo(await (await root(`/ops/${pushed.hash}.narinfo`, {})).text());
    const redirect = await fetch(`${server.url}/ops/${info.url}`, { redirect: "manual" });
    expect(redirect.status).toBe(307);
    const presigned = new URL(redirect.headers.get("location") ?? "");
    expect(presigned.searchParams.get("X-Amz-Signature")).toBeTruthy();
    expect((await fetch(presigned)).status).toBe(200);
    expect((await httpRequester(server.url, reader)("/closed/nix-cache-info", {})).status).toBe(200);
    expect((await httpRequester(server.url, refused)("/closed/nix-cache-info", {})).status).toBe(401);
    const streamedNar = makeNar({ type: "regular", contents: lcgBytes(50_000, 11) });
    const streamed = await pushNar(root, "ops", { nar: streamedNar, name: "streamed", stream: true });
    expect(streamed.status).toBe(200);

    // Metrics: not on the main listener, parsed from the metrics address, counters moved.
    expect((await fetch(`${server.url}/metrics`)).status).toBe(404);
    const m = parsePrometheus(await (await fetch(`${metricsUrl}/metrics`)).text());
    expect(m.value("garret_http_requests_total", { route: "/_api/v1/upload-path", status: "200" })).toBe(2);
    expect(m.value("garret_http_requests_total", { route: "/:cache/nar/:file", status: "307" })).toBe(1);
    expect(m.value("garret_http_requests_total", { route: "/:cache/nix-cache-info", status: "401" })).toBe(1);
    expect(m.value("garret_http_requests_total", { route: "/:cache/nix-cache-info", status: "200" })).toBe(1);
    expect(m.value("garret_http_request_duration_seconds_count", { route: "/:cache/:file" })).toBe(1);
    // The streamed (chunked) upload is counted as well as the one with a Content-Length.
    expect(m.value("garret_upload_received_bytes_total")).toBe(nar.length + streamedNar.length);
    expect(m.value("garret_storage_written_bytes_total")).toBeGreaterThan(0);
    expect(m.value("garret_storage_operations_total", { op: "presign" })).toBe(1);
    expect(m.value("garret_http_response_bytes_total", { route: "/:cache/:file" })).toBeGreaterThan(0);
    expect(m.has("garret_store_nars")).toBe(true);
    expect((await fetch(`${metricsUrl}/healthz`)).status).toBe(200);

    // Debug logging from server.toml, and nothing secret in it.
    const logs = server.logs();
    expect(logs).toContain('"level":"debug"');
    for (const secret of [
      config.rootToken,
      reader,
      refused,
      config.secretBase64,
      presigned.search.slice(1),
    ]) {
      expect(logs).not.toContain(secret);
    }
    expect(logs).not.toMatch(/X-Amz-Signature|X-Amz-Credential/i);
    for (const part of [config.rootToken, reader].flatMap((t) => t.split(".")))
      expect(logs).not.toContain(part);

    // S3 stops: readiness says so, liveness does not care.
    expect(await readyz(server.url)).toEqual({
      status: 200,
      body: { status: "ok", database: "ok", storage: "ok" },
    });
    await s3.stop();
    expect(await readyz(server.url)).toEqual({
      status: 503,
      body: { status: "unavailable", database: "ok", storage: "down" },
    });
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });
});

/** A TCP relay to Postgres that the test can cut, as if the database host went away. */
async function startRelay(target: {
  host: string;
  port: number;
}): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}

if (postgresTestUrl()) {
  describe("garretd on Postgres", () => {
    it("answers /readyz 503 naming the database when Postgres goes away", async () => {
      const dir = await tempDir();
      const database = await createTestDatabase();
      cleanups.push(database.drop);
      const url = new URL(database.url);
      const relay = await startRelay({ host: url.hostname, port: Number(url.port || 5432) });
      cleanups.push(relay.close);
      url.host = `127.0.0.1:${relay.port}`;
      const config = await writeClusterConfig({
        dir,
        databaseUrl: url.toString(),
        storage: { type: "local", path: join(dir, "storage") },
      });
      const server = await spawnGarretd({ configPath: config.configPath, dir }, "api-server");
      cleanups.push(server.stop);
      expect(await readyz(server.url)).toEqual({
        status: 200,
        body: { status: "ok", database: "ok", storage: "ok" },
      });
      await relay.close();
      expect(await readyz(server.url)).toEqual({
        status: 503,
        body: { status: "unavailable", database: "down", storage: "ok" },
      });
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
      const m = parsePrometheus(await (await fetch(`${server.url}/metrics`)).text());
      expect(m.value("garret_http_requests_total", { route: "/readyz", status: "503" })).toBe(1);
    });
  });
}
