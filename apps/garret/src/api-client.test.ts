import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { UploadPathNarInfo } from "@garret/protocol";
import { afterEach, describe, expect, it } from "vitest";
import {
  ApiClient,
  ApiError,
  type NarStream,
  NetworkError,
  normalizeEndpoint,
  parseCacheStats,
  parsePin,
  parseUploadResult,
} from "./api-client.ts";

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: Buffer;
}

const servers: { close(): void }[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

async function serve(handler: (req: Seen, res: ServerResponse, n: number) => void) {
  const seen: Seen[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const s = {
      method: req.method ?? "",
      url: req.url ?? "",
      headers: req.headers,
      body: Buffer.concat(chunks),
    };
    seen.push(s);
    handler(s, res, seen.length);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, seen };
}

function client(endpoint: string, token?: string) {
  const sleeps: number[] = [];
  const c = new ApiClient({
    endpoint,
    token,
    userAgent: "garret/test",
    retry: { attempts: 3, baseMs: 1, maxMs: 4 },
    retryEnv: { sleep: async (ms) => void sleeps.push(ms), random: () => 0 },
  });
  return { c, sleeps };
}

function json(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}

const INFO: UploadPathNarInfo = {
  cache: "test",
  store_path_hash: "nm1w9sdm6j6icmhd2q3260hl1w9zj6li",
  store_path: "/nix/store/nm1w9sdm6j6icmhd2q3260hl1w9zj6li-attic-test-no-deps",
  references: [],
  sigs: [],
  nar_hash: "sha256:baeabdb75c223d171800c17b05c5e7e8e9980723a90eb6ffcc632a305afc5a42",
  nar_size: 11,
};

function narFrom(parts: string[], opened: { n: number }): () => NarStream {
  return () => {
    opened.n++;
    return {
      body: (async function* () {
        for (const p of parts) yield Buffer.from(p);
      })(),
      cancel() {},
    };
  };
}

describe("ApiClient", () => {
  it("sends bearer auth and user agent, parses cache-config", async () => {
    const { url, seen } = await serve((_req, res) =>
      json(res, 200, { public_key: "c:K", is_public: false, retention_period: "Global" }),
    );
    const { c } = client(url, "tok");
    expect(await c.getCacheConfig("c")).toEqual({
      public_key: "c:K",
      is_public: false,
      retention_period: "Global",
    });
    expect(seen[0]?.url).toBe("/_api/v1/cache-config/c");
    expect(seen[0]?.headers.authorization).toBe("bearer tok");
    expect(seen[0]?.headers["user-agent"]).toBe("garret/test");
  });

  it("sends no Authorization without a token", async () => {
    const { url, seen } = await serve((_req, res) => json(res, 200, {}));
    await client(url).c.getCacheConfig("c");
    expect(seen[0]?.headers.authorization).toBeUndefined();
  });

  it("surfaces the error envelope and does not retry 4xx", async () => {
    const { url, seen } = await serve((_req, res) =>
      json(res, 403, {
        code: 403,
        error: "AccessError",
        message: "Access error: User does not have permission to complete this action.",
      }),
    );
    const err = await client(url, "t")
      .c.getMissingPaths("c", [])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(403);
    expect((err as ApiError).message).toBe(
      "AccessError: Access error: User does not have permission to complete this action.",
    );
    expect(seen).toHaveLength(1);
  });

  it("reports non-JSON errors as HTTP status and body", async () => {
    const { url } = await serve((_req, res) => res.writeHead(413).end("too big"));
    await expect(client(url).c.configureCache("c", { is_public: true })).rejects.toThrow("HTTP 413: too big");
  });

  it("retries 503 on idempotent calls", async () => {
    const { url, seen } = await serve((_req, res, n) =>
      n < 3
        ? json(res, 503, { code: 503, error: "ServiceUnavailable", message: "busy" })
        : json(res, 200, { missing_paths: ["a"] }),
    );
    const { c, sleeps } = client(url, "t");
    expect(await c.getMissingPaths("c", ["a"])).toEqual(["a"]);
    expect(seen).toHaveLength(3);
    expect(sleeps).toEqual([1, 1]);
    expect(JSON.parse(seen[0]?.body.toString() ?? "")).toEqual({ cache: "c", store_path_hashes: ["a"] });
  });

  it("does not retry 500 on create (it may have succeeded)", async () => {
    const { url, seen } = await serve((_req, res) =>
      json(res, 500, { code: 500, error: "InternalServerError", message: "x" }),
    );
    await expect(
      client(url).c.createCache("c", {
        keypair: "Generate",
        is_public: false,
        store_dir: "/nix/store",
        priority: 41,
        upstream_cache_key_names: [],
      }),
    ).rejects.toThrow("InternalServerError: x");
    expect(seen).toHaveLength(1);
  });

  it("retries connection refused and then reports it clearly", async () => {
    const { url } = await serve((_req, res) => json(res, 200, {}));
    for (const s of servers.splice(0)) s.close();
    const { c, sleeps } = client(url);
    const err = await c.getCacheConfig("c").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as Error).message).toMatch(/connection failed: .*ECONNREFUSED/);
    expect(sleeps).toHaveLength(2);
  });

  it("streams an upload with the info header and re-opens the NAR on retry", async () => {
    const { url, seen } = await serve((_req, res, n) =>
      n === 1
        ? res.writeHead(502).end("bad gateway")
        : json(res, 200, { kind: "Uploaded", file_size: 5, frac_deduplicated: 0.5 }),
    );
    const opened = { n: 0 };
    const progress: number[] = [];
    const result = await client(url, "t").c.uploadPath(INFO, narFrom(["hello", " world"], opened), {
      onProgress: (s) => progress.push(s),
    });
    expect(result).toEqual({ kind: "Uploaded", file_size: 5, frac_deduplicated: 0.5 });
    expect(opened.n).toBe(2);
    expect(seen[1]?.method).toBe("PUT");
    expect(seen[1]?.url).toBe("/_api/v1/upload-path");
    expect(seen[1]?.body.toString()).toBe("hello world");
    expect(seen[1]?.headers["transfer-encoding"]).toBe("chunked");
    expect(seen[1]?.headers["content-length"]).toBeUndefined();
    expect(JSON.parse(String(seen[1]?.headers["x-attic-nar-info"]))).toMatchObject({
      store_path_hash: INFO.store_path_hash,
    });
    expect(progress.at(-1)).toBe(11);
  });

  it("sends the preamble before the NAR when forced", async () => {
    const { url, seen } = await serve((_req, res) =>
      json(res, 200, { kind: "Deduplicated", frac_deduplicated: null }),
    );
    const result = await client(url, "t").c.uploadPath(INFO, narFrom(["hello world"], { n: 0 }), {
      forcePreamble: true,
    });
    expect(result.kind).toBe("Deduplicated");
    const size = Number(seen[0]?.headers["x-attic-nar-info-preamble-size"]);
    const body = seen[0]?.body ?? Buffer.alloc(0);
    expect(JSON.parse(body.subarray(0, size).toString())).toMatchObject({ nar_size: 11 });
    expect(body.subarray(size).toString()).toBe("hello world");
    expect(seen[0]?.headers["x-attic-nar-info"]).toBeUndefined();
  });

  it("reports an early answer instead of the broken pipe, without retrying", async () => {
    const server = createServer((req, res) => {
      // answer at once and drop the connection without reading the body
      res.writeHead(401, { "content-type": "application/json", connection: "close" });
      res.end(JSON.stringify({ code: 401, error: "Unauthorized", message: "Unauthorized." }));
      req.socket.end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    servers.push(server);
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const opened = { n: 0 };
    const big = Array.from({ length: 256 }, () => "x".repeat(65536));
    const err = await client(url, "t")
      .c.uploadPath(INFO, narFrom(big, opened))
      .catch((e: unknown) => e);
    expect((err as Error).message).toBe("Unauthorized: Unauthorized.");
    expect(opened.n).toBe(1);
  });

  it("does not retry when the NAR producer fails", async () => {
    const { url } = await serve((_req, res) => json(res, 200, { kind: "Uploaded", frac_deduplicated: null }));
    let opened = 0;
    const failing = (): NarStream => {
      opened++;
      return {
        body: (async function* () {
          yield Buffer.from("partial");
          throw new Error("nix-store --dump failed (exit 1)");
        })(),
        cancel() {},
      };
    };
    await expect(client(url, "t").c.uploadPath(INFO, failing)).rejects.toThrow(
      "nix-store --dump failed (exit 1)",
    );
    expect(opened).toBe(1);
  });

  it("normalises endpoints and tolerates odd upload results", () => {
    expect(normalizeEndpoint("http://h:8080")).toBe("http://h:8080/");
    expect(normalizeEndpoint("https://h/attic")).toBe("https://h/attic/");
    expect(parseUploadResult("not json")).toEqual({ kind: "Uploaded", frac_deduplicated: null });
    expect(parseUploadResult('{"kind":"Future"}')).toEqual({ kind: "Uploaded", frac_deduplicated: null });
  });
});

describe("garret extensions", () => {
  const pin = {
    name: "release",
    store_paths: ["/nix/store/nm1w9sdm6j6icmhd2q3260hl1w9zj6li-x"],
    expires_at: null,
    created_at: "2026-01-01T00:00:00.000Z",
    updated_at: "2026-01-01T00:00:00.000Z",
    created_by: null,
  };

  it("speaks the pin and delete routes", async () => {
    const s = await serve((req, res) => {
      if (req.method === "GET") json(res, 200, { pins: [pin] });
      else if (req.method === "PUT") json(res, 200, pin);
      else res.writeHead(200).end();
    });
    const { c } = client(`${s.url}prefix`, "tok");
    expect(await c.putPin("demo", "release", { store_paths: pin.store_paths, expires_at: null })).toEqual(
      pin,
    );
    expect(await c.listPins("demo")).toEqual([pin]);
    await c.deletePin("demo", "release");
    await c.deletePath("demo", "nm1w9sdm6j6icmhd2q3260hl1w9zj6li");
    expect(s.seen.map((r) => `${r.method} ${r.url}`)).toEqual([
      "PUT /prefix/_api/v1/caches/demo/pins/release",
      "GET /prefix/_api/v1/caches/demo/pins",
      "DELETE /prefix/_api/v1/caches/demo/pins/release",
      "DELETE /prefix/demo/nm1w9sdm6j6icmhd2q3260hl1w9zj6li.narinfo",
    ]);
    expect(JSON.parse(s.seen[0]?.body.toString() ?? "")).toEqual({
      store_paths: pin.store_paths,
      expires_at: null,
    });
  });

  it("does not repeat a delete that reached the server", async () => {
    const s = await serve((_req, res) => json(res, 503, { code: 503, error: "X", message: "m" }));
    const { c } = client(s.url);
    await expect(c.deletePath("demo", "nm1w9sdm6j6icmhd2q3260hl1w9zj6li")).rejects.toBeInstanceOf(ApiError);
    await expect(c.deletePin("demo", "x")).rejects.toBeInstanceOf(ApiError);
    expect(s.seen).toHaveLength(2);
  });

  it("rejects malformed extension bodies", () => {
    expect(() => parsePin({ ...pin, store_paths: [1] })).toThrow(/malformed/);
    expect(() => parsePin({ ...pin, expires_at: undefined })).toThrow(/malformed/);
    const stats = {
      objects: 1,
      nar_bytes: 2,
      chunks: 3,
      stored_bytes: 4,
      pins: 0,
      closure_retention: false,
      last_gc: null,
    };
    expect(parseCacheStats(stats)).toEqual(stats);
    expect(() => parseCacheStats({ ...stats, last_gc: { started_at: "x" } })).toThrow(/malformed/);
    expect(() => parseCacheStats({ ...stats, nar_bytes: null })).toThrow(/malformed/);
    expect(() => parseCacheStats(null)).toThrow(/malformed/);
  });
});
