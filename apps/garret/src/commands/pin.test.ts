import { mkdtemp, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Pin } from "@garret/protocol";
import { afterEach, describe, expect, it } from "vitest";
import {
  loggedInCli,
  sendError,
  sendJson,
  serveJson,
  type TestServer,
} from "../../../../test/support/client-server.ts";
import { main } from "../main.ts";
import { expiresAt, formatPins } from "./pin.ts";

const NOW = Date.parse("2026-01-01T00:00:00.000Z");
const HELLO = "/nix/store/0c2bl6ypqmqq2a4w6ga6xnd1b8sxy2yd-hello-2.12.1";
const LIB = "/nix/store/nm1w9sdm6j6icmhd2q3260hl1w9zj6li-lib";

const servers: TestServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

describe("expiresAt", () => {
  it("turns --expires into a time from now and passes --expires-at through as UTC", () => {
    expect(expiresAt({}, NOW)).toBeNull();
    expect(expiresAt({ expires: "1d" }, NOW)).toBe("2026-01-02T00:00:00.000Z");
    expect(expiresAt({ expiresAt: "2027-01-01T00:00:00Z" }, NOW)).toBe("2027-01-01T00:00:00.000Z");
    expect(expiresAt({ expiresAt: "2027-01-01T02:00:00+02:00" }, NOW)).toBe("2027-01-01T00:00:00.000Z");
    expect(expiresAt({ expiresAt: "2027-01-01" }, NOW)).toBe("2027-01-01T00:00:00.000Z");
  });
  it("rejects bad, past, contradictory and overlong expiries", () => {
    expect(() => expiresAt({ expires: "1d", expiresAt: "2027-01-01" }, NOW)).toThrow(/together/);
    expect(() => expiresAt({ expires: "10" }, NOW)).toThrow(/--expires:/);
    expect(() => expiresAt({ expiresAt: "1" }, NOW)).toThrow(/not an ISO 8601/);
    expect(() => expiresAt({ expiresAt: "2027-13-45" }, NOW)).toThrow(/not a valid time/);
    expect(() => expiresAt({ expiresAt: "2025-12-31T23:59:59Z" }, NOW)).toThrow(/in the past/);
    expect(() => expiresAt({ expires: "100000y" }, NOW)).toThrow(/too long/);
  });
});

describe("formatPins", () => {
  it("prints each pin's expiry, creator and paths", () => {
    const pins: Pin[] = [
      {
        name: "release",
        store_paths: [HELLO, LIB],
        expires_at: "2027-01-01T00:00:00.000Z",
        created_at: "x",
        updated_at: "x",
        created_by: "ci",
      },
      {
        name: "old",
        store_paths: [LIB],
        expires_at: "2025-01-01T00:00:00.000Z",
        created_at: "x",
        updated_at: "x",
        created_by: null,
      },
      {
        name: "keep",
        store_paths: [HELLO],
        expires_at: null,
        created_at: "x",
        updated_at: "x",
        created_by: null,
      },
    ];
    expect(formatPins(pins, NOW)).toBe(
      [
        "release  expires 2027-01-01T00:00:00.000Z  by ci",
        `  ${HELLO}`,
        `  ${LIB}`,
        "old      expired 2025-01-01T00:00:00.000Z",
        `  ${LIB}`,
        "keep     never expires",
        `  ${HELLO}`,
        "",
      ].join("\n"),
    );
  });
});

describe("garret pin add|list|remove against a local server", () => {
  it("PUTs resolved paths, lists and deletes pins", async () => {
    const s = await serveJson((req, res) => {
      if (req.method === "PUT") {
        const body = JSON.parse(req.body) as { store_paths: string[]; expires_at: string | null };
        sendJson(res, 200, {
          name: "release",
          ...body,
          created_at: "2026-01-01T00:00:00.000Z",
          updated_at: "2026-01-01T00:00:00.000Z",
          created_by: "ci",
        });
      } else if (req.method === "GET") {
        sendJson(res, 200, {
          pins: [
            {
              name: "release",
              store_paths: [HELLO],
              expires_at: null,
              created_at: "2026-01-01T00:00:00.000Z",
              updated_at: "2026-01-01T00:00:00.000Z",
              created_by: "ci",
            },
          ],
        });
      } else res.writeHead(200).end();
    });
    servers.push(s);
    const dir = await mkdtemp(join(tmpdir(), "garret-pin-"));
    await symlink(HELLO, join(dir, "result"));

    const add = await loggedInCli(s.url);
    const code = await main(
      ["pin", "add", "demo", "release", join(dir, "result"), `${LIB}/lib/libx.so`, HELLO, "--expires", "1d"],
      add.ctx,
    );
    expect(add.err()).toContain('📌 Pinned 2 path(s) as "release" in "demo" (expires ');
    expect(code).toBe(0);
    const put = s.seen[0];
    expect(put?.method).toBe("PUT");
    expect(put?.url).toBe("/_api/v1/caches/demo/pins/release");
    expect(put?.headers.authorization).toBe("bearer tok");
    const sent = JSON.parse(put?.body ?? "") as { store_paths: string[]; expires_at: string };
    expect(sent.store_paths).toEqual([HELLO, LIB]);
    const expiry = Date.parse(sent.expires_at) - Date.now();
    expect(expiry).toBeGreaterThan(86_400_000 - 60_000);
    expect(expiry).toBeLessThanOrEqual(86_400_000);

    const list = await loggedInCli(s.url);
    expect(await main(["pin", "list", "demo"], list.ctx)).toBe(0);
    expect(s.seen[1]).toMatchObject({ method: "GET", url: "/_api/v1/caches/demo/pins" });
    expect(list.out()).toBe(`release  never expires  by ci\n  ${HELLO}\n`);
    const json = await loggedInCli(s.url);
    expect(await main(["pin", "list", "demo", "--json"], json.ctx)).toBe(0);
    expect((JSON.parse(json.out()) as { pins: Pin[] }).pins[0]?.name).toBe("release");

    const rm = await loggedInCli(s.url);
    expect(await main(["pin", "remove", "demo", "release"], rm.ctx)).toBe(0);
    expect(s.seen[3]).toMatchObject({ method: "DELETE", url: "/_api/v1/caches/demo/pins/release" });
  });

  it("checks names and paths before any request", async () => {
    const s = await serveJson((_req, res) => sendJson(res, 500, {}));
    servers.push(s);
    const bad = await loggedInCli(s.url);
    expect(await main(["pin", "add", "demo", "no/slash", HELLO], bad.ctx)).toBe(2);
    expect(bad.err()).toMatch(/invalid pin name/);
    const outside = await loggedInCli(s.url);
    expect(await main(["pin", "add", "demo", "x", "/etc/hostname"], outside.ctx)).toBe(1);
    expect(outside.err()).toMatch(/not in the Nix store/);
    const missing = await loggedInCli(s.url);
    expect(await main(["pin", "add", "demo", "x"], missing.ctx)).toBe(2);
    expect(s.seen).toHaveLength(0);
  });

  it("explains failures: missing cr, atticd without pins, unknown pin", async () => {
    let reply: (res: Parameters<typeof sendError>[0]) => void = () => {};
    const s = await serveJson((_req, res) => reply(res));
    servers.push(s);

    reply = (res) => sendError(res, 403, "AccessError");
    const denied = await loggedInCli(s.url);
    expect(await main(["pin", "list", "demo"], denied.ctx)).toBe(1);
    expect(denied.err()).toMatch(/lacks "cr" \(configure cache\)/);

    reply = (res) => sendError(res, 404, "NotFound", "The URL you requested was not found.");
    const attic = await loggedInCli(s.url);
    expect(await main(["pin", "add", "demo", "x", HELLO], attic.ctx)).toBe(1);
    expect(attic.err()).toMatch(/^error: NotFound: .*\nhint: server "local" .* does not support pins/);
    const unknown = await loggedInCli(s.url);
    expect(await main(["pin", "remove", "demo", "x"], unknown.ctx)).toBe(1);
    expect(unknown.err()).toMatch(/hint: there is no such pin, or server "local"/);
  });
});
