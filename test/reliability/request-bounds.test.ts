/**
 * Every request has a bounded cost before authentication, against the real process (embedded
 * database and Postgres), with short test bounds in `[garret]`:
 *
 *   - connections over `max-connections` are refused at accept;
 *   - headers trickled a byte at a time are cut at `request-header-timeout`;
 *   - an upload whose body stalls is cut at `request-idle-timeout`;
 *   - anonymous callers of endpoints that take a body (JSON, upload preamble, narinfo PUT) are
 *     answered 401 before they send a byte of it, and the connection is closed, so a crowd of
 *     strangers cannot make the server buffer anything.
 */
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DbKind, type GarretdHandle, startGarretd } from "../support/garretd.ts";
import { postgresTestUrl } from "../support/postgres.ts";
import { atticNarInfo, createCache, makePath } from "./support.ts";

const MAX_CONNECTIONS = 64;
const BOUNDS = [
  "[garret]",
  'request-header-timeout = "2s"',
  'request-idle-timeout = "1s"',
  `max-connections = ${MAX_CONNECTIONS}`,
  "",
].join("\n");

/** A raw connection: what the server sent, and when (ms after opening) it closed the connection. */
interface Raw {
  socket: Socket;
  received(): string;
  /** Resolves once the server's answer holds `text`. */
  waitFor(text: string, ms: number): Promise<boolean>;
  /** Resolves to the ms since opening when the connection closed, or null if it did not in `ms`. */
  closedWithin(ms: number): Promise<number | null>;
}

function open(port: number): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const opened = Date.now();
    const socket = connect(port, "127.0.0.1");
    let data = "";
    let closedAt: number | null = null;
    const waiters = new Set<() => void>();
    const wake = () => {
      for (const w of waiters) w();
    };
    socket.on("data", (d: Buffer) => {
      data += d.toString("latin1");
      wake();
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      closedAt = Date.now() - opened;
      wake();
    });
    const until = (done: () => boolean, ms: number) =>
      new Promise<void>((res) => {
        if (done()) return res();
        const check = () => {
          if (!done()) return;
          waiters.delete(check);
          clearTimeout(timer);
          res();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          res();
        }, ms);
        waiters.add(check);
      });
    socket.once("connect", () =>
      resolve({
        socket,
        received: () => data,
        async waitFor(text, ms) {
          await until(() => data.includes(text) || closedAt !== null, ms);
          return data.includes(text);
        },
        async closedWithin(ms) {
          await until(() => closedAt !== null, ms);
          return closedAt;
        },
      }),
    );
    socket.once("error", reject);
  });
}

function head(method: string, path: string, headers: Record<string, string | number>): string {
  const lines = [`${method} ${path} HTTP/1.1`, "Host: 127.0.0.1"];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  return `${lines.join("\r\n")}\r\n\r\n`;
}

/** Waits until the server answers a new connection (it was at its connection cap). */
async function accepting(port: number): Promise<boolean> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const raw = await open(port);
    raw.socket.write(head("GET", "/healthz", {}));
    const answered = await raw.waitFor("HTTP/1.1 200", 2000);
    raw.socket.destroy();
    if (answered) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

/** The real process runs on its embedded database, and on Postgres when the tier is on. */
const dbs: DbKind[] = postgresTestUrl() ? ["sqlite", "postgres"] : ["sqlite"];

describe.each(dbs)("request bounds before authentication [%s]", (db) => {
  let g: GarretdHandle;
  let pusher: string;
  beforeAll(async () => {
    g = await startGarretd({ db, extraToml: BOUNDS, env: { GARRET_LOG: "debug" } });
    pusher = await g.mintToken("pusher", { "bounds-*": ["r", "w", "cc"] });
  }, 120_000);
  afterAll(() => g?.stop());

  // First, while no other client holds a connection to the server.
  it("refuses connections over max-connections and accepts again once one closes", async () => {
    const held: Raw[] = [];
    for (let i = 0; i < MAX_CONNECTIONS; i++) {
      const raw = await open(g.port);
      raw.socket.write(head("GET", "/healthz", {}));
      expect(await raw.waitFor("HTTP/1.1 200", 10_000)).toBe(true);
      held.push(raw);
    }
    const over = await open(g.port);
    over.socket.write(head("GET", "/healthz", {}));
    expect(await over.closedWithin(10_000)).not.toBeNull();
    expect(over.received()).toBe("");

    held.pop()?.socket.destroy();
    expect(await accepting(g.port)).toBe(true);
    for (const raw of held) raw.socket.destroy();
  }, 60_000);

  it("cuts headers trickled slower than request-header-timeout", async () => {
    // The server may still be counting the previous test's connections.
    expect(await accepting(g.port)).toBe(true);
    const raw = await open(g.port);
    const text = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
    let i = 0;
    // One byte every 200 ms: never idle for the 1 s idle bound, only too slow overall.
    const trickle = setInterval(() => {
      if (!raw.socket.destroyed) raw.socket.write(i < text.length ? (text[i++] as string) : "a");
    }, 200);
    try {
      const closed = await raw.closedWithin(15_000);
      expect(closed).not.toBeNull();
      expect(closed as number).toBeGreaterThanOrEqual(1500);
      expect(raw.received()).not.toMatch(/HTTP\/1.1 200/);
    } finally {
      clearInterval(trickle);
    }
  }, 30_000);

  it("cuts an upload whose body stalls for request-idle-timeout", async () => {
    await createCache(g.url, pusher, "bounds-a");
    await createCache(g.url, pusher, "bounds-hidden", false);
    const p = makePath("stalled", 200_000, 7);
    const raw = await open(g.port);
    raw.socket.write(
      head("PUT", "/_api/v1/upload-path", {
        authorization: `Bearer ${pusher}`,
        "content-type": "application/octet-stream",
        "content-length": p.nar.length,
        "x-attic-nar-info": JSON.stringify(atticNarInfo("bounds-a", p)),
      }),
    );
    raw.socket.write(p.nar.subarray(0, 10));
    const closed = await raw.closedWithin(15_000);
    expect(closed).not.toBeNull();
    expect(closed as number).toBeGreaterThanOrEqual(900);
    // Nothing was stored for it.
    const info = await fetch(`${g.url}/bounds-a/${p.hash}.narinfo`, {
      headers: { authorization: `Bearer ${pusher}` },
    });
    expect(info.status).toBe(404);
  }, 30_000);

  it("a client hanging up mid-upload is logged at debug, never as a server error", async () => {
    await createCache(g.url, pusher, "bounds-hup");
    const p = makePath("hung-up", 200_000, 8);
    const raw = await open(g.port);
    raw.socket.write(
      head("PUT", "/_api/v1/upload-path", {
        authorization: `Bearer ${pusher}`,
        "content-type": "application/octet-stream",
        "content-length": p.nar.length,
        "x-attic-nar-info": JSON.stringify(atticNarInfo("bounds-hup", p)),
      }),
    );
    raw.socket.write(p.nar.subarray(0, 50_000));
    await new Promise((r) => setTimeout(r, 200));
    raw.socket.destroy();
    const gone = () => (g.logs().match(/"msg":"client went away"/g) ?? []).length;
    for (let i = 0; i < 100 && gone() < 1; i++) await new Promise((r) => setTimeout(r, 100));
    expect(gone()).toBeGreaterThanOrEqual(1);
    expect(g.logs()).not.toMatch(/"level":"error"/);
    const metrics = await (await fetch(`${g.url}/metrics`)).text();
    expect(metrics).not.toMatch(/garret_request_errors_total\{[^}]*\} [1-9]/);
  }, 30_000);

  const json = { "content-type": "application/json" };
  // bounds-a is public: the narinfo PUT, whose cache is in the URL, keeps attic's answer to an
  // anonymous pusher of a public cache (403); the others cannot know the cache before the body.
  const anonymous: Array<[string, string, string, Record<string, string | number>, number]> = [
    ["mint a token", "POST", "/_api/v1/tokens", json, 401],
    ["create a cache", "POST", "/_api/v1/cache-config/bounds-new", json, 401],
    ["configure a cache", "PATCH", "/_api/v1/cache-config/bounds-a", json, 401],
    ["get-missing-paths", "POST", "/_api/v1/get-missing-paths", json, 401],
    ["put a pin", "PUT", "/_api/v1/caches/bounds-a/pins/p", json, 401],
    [
      "upload with a preamble",
      "PUT",
      "/_api/v1/upload-path",
      { "x-attic-nar-info-preamble-size": 1024 * 1024 - 1 },
      401,
    ],
    ["narinfo PUT", "PUT", "/bounds-a/nm1w9sdm6j6icmhd2q3260hl1w9zj6li.narinfo", {}, 403],
    [
      "narinfo PUT (private cache)",
      "PUT",
      "/bounds-hidden/nm1w9sdm6j6icmhd2q3260hl1w9zj6li.narinfo",
      {},
      401,
    ],
  ];

  it.each(
    anonymous,
  )("anonymous %s: refused before the body is sent, then the connection closes", async (_what, method, path, headers, status) => {
    const raw = await open(g.port);
    raw.socket.write(head(method, path, { ...headers, "content-length": 2 * 1024 * 1024 - 1 }));
    expect(await raw.waitFor("\r\n\r\n", 10_000)).toBe(true);
    expect(raw.received()).toMatch(new RegExp(`^HTTP/1.1 ${status} `));
    expect(raw.received()).toMatch(/\r\nconnection: close\r\n/i);
    expect(await raw.closedWithin(10_000)).not.toBeNull();
  });

  it("a narinfo PUT by a token without push on the cache is refused before its body", async () => {
    const reader = await g.mintToken("reader", { "bounds-*": ["r"] });
    const raw = await open(g.port);
    raw.socket.write(
      head("PUT", "/bounds-a/nm1w9sdm6j6icmhd2q3260hl1w9zj6li.narinfo", {
        authorization: `Bearer ${reader}`,
        "content-length": 1024 * 1024 - 1,
      }),
    );
    expect(await raw.waitFor("\r\n\r\n", 10_000)).toBe(true);
    expect(raw.received()).toMatch(/^HTTP\/1.1 403 /);
    expect(await raw.closedWithin(10_000)).not.toBeNull();
  });

  it("50 strangers sending 2 MiB bodies at once are all answered 401 before their bodies", async () => {
    const raws = await Promise.all(Array.from({ length: 50 }, () => open(g.port)));
    for (const raw of raws) {
      raw.socket.write(
        head("POST", "/_api/v1/tokens", {
          "content-type": "application/json",
          "content-length": 2 * 1024 * 1024 - 1,
        }),
      );
    }
    const answers = await Promise.all(raws.map((raw) => raw.waitFor("\r\n\r\n", 15_000)));
    expect(answers.every(Boolean)).toBe(true);
    expect(raws.every((raw) => raw.received().startsWith("HTTP/1.1 401 "))).toBe(true);
    const closed = await Promise.all(raws.map((raw) => raw.closedWithin(10_000)));
    expect(closed.every((at) => at !== null)).toBe(true);
  }, 60_000);
});
