/**
 * Multi-tenant hardening (issue 14, part A), each threat tried through HTTP against the real
 * garretd process, on the embedded database and on Postgres when GARRET_TEST_POSTGRES_URL is set:
 *
 *   - cache-name patterns that would make a backtracking matcher run for minutes are answered at
 *     once, and correctly;
 *   - a scoped admin (`team-*` only) lists, revokes and mints only within its grants and its
 *     subject namespace: it cannot see other tenants' tokens, revoke the root token or a wider
 *     admin, nor mint a token carrying someone else's name;
 *   - no upload or cache setting can add lines to a narinfo or `nix-cache-info` (store paths are
 *     parsed against the cache's store dir; control characters are refused everywhere), and NUL
 *     bytes anywhere are a 4xx with nothing written;
 *   - started under umask 022, garretd writes nothing other local users can read: database files,
 *     chunk files and directories are 0600 / 0700, and a storage or database root left open to
 *     others is narrowed at start;
 *   - anonymous statistics of a public cache are memoized (no scan per request); creating or
 *     removing a pin, which overrides retention, needs `cq` as changing retention does.
 */
import { createHash } from "node:crypto";
import { chmod, lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import { toNixBase32 } from "@garret/nix";
import { PERMISSION_LETTERS } from "@garret/protocol";
import { garretGrantClaims } from "@garret/token";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCacheOver } from "../support/cache-api.ts";
import { type DbKind, type GarretdHandle, startGarretd } from "../support/garretd.ts";
import { grant } from "../support/grants.ts";
import { narOfFile, randomStorePathHash, sha256Hex } from "../support/nar.ts";
import { postgresTestUrl } from "../support/postgres.ts";
import { narInfoForNar } from "../support/upload-info.ts";

const ALL = [...PERMISSION_LETTERS];

const dbs: DbKind[] = postgresTestUrl() ? ["sqlite", "postgres"] : ["sqlite"];

describe.each(dbs)("tenant isolation (%s)", (db) => {
  let g: GarretdHandle;
  beforeAll(async () => {
    // A login shell's umask: garretd must not depend on the caller's.
    g = await startGarretd({ db, umask: 0o022 });
  });
  afterAll(() => g?.stop());

  const get = (path: string, token?: string) =>
    fetch(`${g.url}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});

  describe("pattern matching is linear", () => {
    // 50 characters, the longest name; none of the hostile patterns below matches it.
    const miss = `team-${"a".repeat(45)}`;
    const hit = `team-${"a".repeat(44)}b`;
    beforeAll(async () => {
      await createCacheOver(g.url, g.rootToken, miss);
      await createCacheOver(g.url, g.rootToken, hit);
    });

    it.each([
      ["the issue's pattern", "team-*a*a*a*a*a*a*a*b"],
      ["twenty stars", `team-${"*a".repeat(20)}*b`],
    ])("%s resolves grants at once and correctly", { timeout: 30_000 }, async (_, pattern) => {
      const token = await g.mintToken("globber", { [pattern]: ["r"] });
      const denied = await Promise.all([1, 2, 3].map(() => get(`/${miss}/nix-cache-info`, token)));
      for (const res of denied) expect(res.status).toBe(401);
      const allowed = await get(`/${hit}/nix-cache-info`, token);
      expect(allowed.status).toBe(200);
      expect(await allowed.text()).toContain("StoreDir: /nix/store");
      expect((await get("/healthz")).status).toBe(200);
    });
  });

  describe("admins act only within their grants", () => {
    let root: string;
    let scoped: string;
    const jtis: Record<string, string> = {};
    const api = (method: string, path: string, token: string, body?: unknown) =>
      fetch(`${g.url}/_api/v1/tokens${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
    // Tokens the scoped admin mints live half as long as the one it holds.
    const mint = async (token: string, sub: string, caches: Record<string, string[]>, admin = false) => {
      const res = await api("POST", "", token, {
        sub,
        validity: token === root ? "1 hour" : "30 minutes",
        caches: Object.fromEntries(
          Object.entries(caches).map(([p, letters]) => [p, Object.fromEntries(letters.map((l) => [l, 1]))]),
        ),
        admin,
      });
      return {
        status: res.status,
        body: (await res.json()) as { token: string; jti: string; error?: string },
      };
    };
    const listedSubs = async (token: string) => {
      const res = await api("GET", "?all=1", token);
      expect(res.status).toBe(200);
      const body = (await res.json()) as {
        tokens: Array<{ sub: string }>;
        revoked_subjects: Array<{ sub: string }>;
      };
      return {
        tokens: body.tokens.map((t) => t.sub).sort(),
        subjects: body.revoked_subjects.map((s) => s.sub),
      };
    };

    beforeAll(async () => {
      root = await g.tokens.mint({
        sub: "root",
        validitySeconds: 7200,
        caches: [["*", grant(ALL)]],
        extraClaims: garretGrantClaims({ admin: true }),
      });
      for (const [sub, caches, admin] of [
        ["ops", { "*": ALL }, true],
        ["team-lead", { "team-*": ALL }, true],
        ["alice", { "alice-*": ["r", "w"] }, false],
        ["team-lead/wide", { "*": ["r", "w"] }, false],
      ] as const) {
        const minted = await mint(root, sub, caches as Record<string, string[]>, admin);
        expect(minted.status, JSON.stringify(minted.body)).toBe(200);
        jtis[sub] = minted.body.jti;
        if (sub === "team-lead") scoped = minted.body.token;
      }
    });

    it("a scoped admin lists only the records it could have minted", async () => {
      expect((await listedSubs(root)).tokens).toEqual(["alice", "ops", "team-lead", "team-lead/wide"]);
      expect(await listedSubs(scoped)).toEqual({ tokens: [], subjects: [] });
      const ci = await mint(scoped, "team-lead/ci", { "team-a": ["r", "w"] });
      expect(ci.status).toBe(200);
      jtis["team-lead/ci"] = ci.body.jti;
      expect((await listedSubs(scoped)).tokens).toEqual(["team-lead/ci"]);
    });

    it("a scoped admin mints only under its own subject, and within its grants", async () => {
      const before = (await listedSubs(root)).tokens.length;
      for (const sub of ["root", "ops", "alice", "team-lead", "team-lead/", "team-leader/x"]) {
        const res = await mint(scoped, sub, { "team-a": ["r"] });
        expect(res.status, sub).toBe(403);
        expect(res.body.error).toBe("PermissionExceeded");
      }
      expect((await mint(scoped, "team-lead/x", { "alice-*": ["r"] })).status).toBe(403);
      expect((await listedSubs(root)).tokens.length).toBe(before);
      const audit = g
        .logs()
        .split("\n")
        .filter((l) => l.includes('"action":"token.mint"') && l.includes('"sub":"team-lead/ci"'));
      expect(audit.length).toBe(1);
      expect(audit[0]).toContain('"sub":"team-lead"');
    });

    it("a scoped admin cannot revoke the root token, a wider admin or another tenant", async () => {
      for (const sub of ["root", "ops", "alice", "team-lead", "team-lead/wide"]) {
        const res = await api("DELETE", `?sub=${encodeURIComponent(sub)}`, scoped);
        expect(res.status, sub).toBe(403);
        expect(((await res.json()) as { error: string }).error).toBe("PermissionExceeded");
      }
      for (const sub of ["ops", "alice", "team-lead/wide"]) {
        const res = await api("DELETE", `/${jtis[sub]}`, scoped);
        expect(res.status, sub).toBe(404);
      }
      // Nothing was revoked: the root and ops tokens still administer.
      expect((await listedSubs(root)).subjects).toEqual([]);
      expect((await api("GET", "", root)).status).toBe(200);
    });

    it("a scoped admin revokes what it minted, by jti and by subject", async () => {
      const byJti = await api("DELETE", `/${jtis["team-lead/ci"]}`, scoped);
      expect(byJti.status).toBe(200);
      const bySub = await api("DELETE", `?sub=${encodeURIComponent("team-lead/ci")}`, scoped);
      expect(bySub.status).toBe(200);
      expect((await listedSubs(scoped)).subjects).toEqual(["team-lead/ci"]);
      expect((await listedSubs(root)).subjects).toEqual(["team-lead/ci"]);
    });
  });

  describe("no line injection, NUL bytes are 4xx", () => {
    const cache = "lines";
    const auth = () => ({ authorization: `Bearer ${g.rootToken}`, "content-type": "application/json" });
    beforeAll(async () => {
      await createCacheOver(g.url, g.rootToken, cache);
    });
    const errorOf = async (res: Response) => ({
      status: res.status,
      ...((await res.json()) as { error: string }),
    });
    const cacheInfo = async () => (await get(`/${cache}/nix-cache-info`, g.rootToken)).text();
    const upload = (info: Record<string, unknown>, nar: Buffer) =>
      fetch(`${g.url}/_api/v1/upload-path`, {
        method: "PUT",
        headers: { authorization: `Bearer ${g.rootToken}`, "x-attic-nar-info": JSON.stringify(info) },
        body: nar,
      });
    const narInfoOf = (hash: string, nar: Buffer, storePath: string) =>
      narInfoForNar(cache, nar, { hash, store_path: storePath });

    it("an uploaded store path outside the cache's store dir, or with line breaks, is refused", async () => {
      const nar = narOfFile("injected");
      const hash = randomStorePathHash();
      const attempts = [
        `/nix/store\nURL: https://evil.example/x.nar\nStorePath: /nix/store/${hash}-x`,
        `/evil/store/${hash}-x`,
        `/nix/store/${hash}-x\u0000`,
      ];
      for (const storePath of attempts) {
        const res = await upload(narInfoOf(hash, nar, storePath), nar);
        expect(res.status, storePath).toBe(400);
        await res.body?.cancel();
      }
      for (const field of ["system", "ca", "deriver"]) {
        const info = {
          ...narInfoOf(hash, nar, `/nix/store/${hash}-x`),
          [field]: "x\nURL: https://evil.example/y",
        };
        expect((await upload(info, nar)).status, field).toBe(400);
      }
      expect((await get(`/${cache}/${hash}.narinfo`, g.rootToken)).status).toBe(404);
      // The same path in the cache's own store dir is accepted and served as sent.
      expect((await upload(narInfoOf(hash, nar, `/nix/store/${hash}-x`), nar)).status).toBe(200);
      const served = await (await get(`/${cache}/${hash}.narinfo`, g.rootToken)).text();
      expect(served.split("\n").filter((l) => l.startsWith("URL:"))).toHaveLength(1);
      expect(served).toContain(`StorePath: /nix/store/${hash}-x\n`);
    });

    it("store_dir, key names and upstream key names refuse control characters", async () => {
      const before = await cacheInfo();
      const seed = Buffer.alloc(64, 7).toString("base64");
      const bodies: Array<Record<string, unknown>> = [
        { store_dir: "/nix/store\nPriority: 1" },
        { store_dir: "/nix/\u0000store" },
        { store_dir: "nix/store" },
        { keypair: { Keypair: `evil\nname:${seed}` } },
        { keypair: { Keypair: `evil name:${seed}` } },
        { upstream_cache_key_names: ["cache.nixos.org-1\u0000"] },
      ];
      for (const body of bodies) {
        const res = await fetch(`${g.url}/_api/v1/cache-config/${cache}`, {
          method: "PATCH",
          headers: auth(),
          body: JSON.stringify(body),
        });
        expect(await errorOf(res), JSON.stringify(body)).toMatchObject({ status: 400 });
        const created = await fetch(`${g.url}/_api/v1/cache-config/fresh-cache`, {
          method: "POST",
          headers: auth(),
          body: JSON.stringify({
            keypair: "Generate",
            is_public: false,
            store_dir: "/nix/store",
            priority: 41,
            upstream_cache_key_names: [],
            ...body,
          }),
        });
        expect(created.status, JSON.stringify(body)).toBe(400);
        await created.body?.cancel();
      }
      expect(await cacheInfo()).toBe(before);
      expect((await get("/_api/v1/cache-config/fresh-cache", g.rootToken)).status).toBe(404);
    });

    it("NUL bytes in ?sub=, a minted sub, a jti and a narinfo PUT's CA are 4xx, nothing written", async () => {
      const admin = await g.tokens.mint({
        sub: "root",
        validitySeconds: 3600,
        caches: [["*", grant(ALL)]],
        extraClaims: garretGrantClaims({ admin: true }),
      });
      const headers = { authorization: `Bearer ${admin}`, "content-type": "application/json" };
      const listed = async () => {
        const res = await fetch(`${g.url}/_api/v1/tokens?all=1`, { headers });
        return (await res.json()) as unknown;
      };
      const before = await listed();
      for (const [method, path, body] of [
        ["GET", "/_api/v1/tokens?sub=a%00b", undefined],
        ["DELETE", "/_api/v1/tokens?sub=a%00b", undefined],
        ["DELETE", "/_api/v1/tokens/a%00b", undefined],
        ["POST", "/_api/v1/tokens", { sub: "a\u0000b", validity: 60, caches: {} }],
      ] as const) {
        const res = await fetch(`${g.url}${path}`, {
          method,
          headers,
          ...(body !== undefined && { body: JSON.stringify(body) }),
        });
        const answer = await errorOf(res);
        expect(answer.status, `${method} ${path}`).toBeGreaterThanOrEqual(400);
        expect(answer.status, `${method} ${path}`).toBeLessThan(500);
      }
      expect(await listed()).toEqual(before);

      // nix copy --to: the NAR first, then a narinfo whose CA holds a NUL byte.
      const nar = narOfFile("nul in ca");
      const hash = randomStorePathHash();
      const fileHash = toNixBase32(createHash("sha256").update(nar).digest());
      const put = (path: string, body: string | Buffer) =>
        fetch(`${g.url}/${cache}/${path}`, {
          method: "PUT",
          headers: { authorization: `Bearer ${g.rootToken}` },
          body,
        });
      const narPut = await put(`nar/${fileHash}.nar`, nar);
      expect(narPut.status).toBe(200);
      await narPut.body?.cancel();
      const narinfo = [
        `StorePath: /nix/store/${hash}-nul`,
        `URL: nar/${fileHash}.nar`,
        "Compression: none",
        `NarHash: sha256:${fileHash}`,
        `NarSize: ${nar.length}`,
        "References: ",
        `CA: fixed:r:sha256:${fileHash}\u0000`,
        "",
      ].join("\n");
      const res = await put(`${hash}.narinfo`, narinfo);
      expect((await errorOf(res)).status).toBe(400);
      expect((await get(`/${cache}/${hash}.narinfo`, g.rootToken)).status).toBe(404);
    });
  });

  describe("nothing written is readable by other local users", () => {
    /** Every entry below `root` (root included) whose mode lets group or others in. */
    async function openEntries(root: string): Promise<string[]> {
      const open: string[] = [];
      const walk = async (path: string): Promise<void> => {
        const st = await lstat(path);
        if (st.isSymbolicLink()) return;
        if ((st.mode & 0o077) !== 0) open.push(`${path} ${(st.mode & 0o777).toString(8)}`);
        if (st.isDirectory()) for (const e of await readdir(path)) await walk(join(path, e));
      };
      await walk(root);
      return open;
    }
    // What garretd writes under: local storage, and the data directory holding the embedded
    // SQLite database (`<data dir>/server.db` and its -wal/-shm files, a root garretd checks at start).
    const written = () => [g.storageDir as string, ...(db === "sqlite" ? [g.dataDir] : [])];
    const roots = () => [g.storageDir as string, ...(db === "sqlite" ? [g.dataDir] : [])];

    it("database files, chunk files and directories are private under umask 022", async () => {
      const nar = narOfFile("private contents ".repeat(20_000));
      const hash = randomStorePathHash();
      await createCacheOver(g.url, g.rootToken, "private-files");
      const res = await fetch(`${g.url}/_api/v1/upload-path`, {
        method: "PUT",
        headers: {
          authorization: `Bearer ${g.rootToken}`,
          "x-attic-nar-info": JSON.stringify({
            cache: "private-files",
            store_path_hash: hash,
            store_path: `/nix/store/${hash}-private`,
            references: [],
            system: null,
            deriver: null,
            sigs: [],
            ca: null,
            nar_hash: sha256Hex(nar),
            nar_size: nar.length,
          }),
        },
        body: nar,
      });
      expect(res.status).toBe(200);
      await res.body?.cancel();
      let files = 0;
      for (const root of written()) {
        expect(await openEntries(root)).toEqual([]);
        files += (await readdir(root, { recursive: true })).length;
      }
      // The walk saw the real thing: chunk files (and the embedded database's files).
      expect(files).toBeGreaterThan(db === "sqlite" ? 3 : 2);
      const chunkFiles = (await readdir(g.storageDir as string, { recursive: true })).filter((f) =>
        f.endsWith(".chunk"),
      );
      expect(chunkFiles.length).toBeGreaterThan(0);
    });

    it("a root left open to others is narrowed to 0700 at start, with a warning", async () => {
      await g.stopProcess();
      for (const root of roots()) await chmod(root, 0o755);
      await g.startProcess();
      for (const root of roots()) {
        expect(((await lstat(root)).mode & 0o777).toString(8)).toBe("700");
        expect(g.logs()).toContain(`directory ${root} was open to other local users (mode 0755)`);
      }
      expect((await get("/private-files/nix-cache-info", g.rootToken)).status).toBe(200);
    });
  });

  /** Uploads a small path over the attic API as root; returns its store path. */
  async function pushPath(cache: string, label: string): Promise<string> {
    const nar = narOfFile(`contents of ${label}`);
    const hash = randomStorePathHash();
    const storePath = `/nix/store/${hash}-${label}`;
    const res = await fetch(`${g.url}/_api/v1/upload-path`, {
      method: "PUT",
      headers: {
        authorization: `Bearer ${g.rootToken}`,
        "x-attic-nar-info": JSON.stringify({
          cache,
          store_path_hash: hash,
          store_path: storePath,
          references: [],
          system: null,
          deriver: null,
          sigs: [],
          ca: null,
          nar_hash: sha256Hex(nar),
          nar_size: nar.length,
        }),
      },
      body: nar,
    });
    expect(res.status, await res.clone().text()).toBe(200);
    return storePath;
  }

  it("anonymous statistics are memoized; a token with r gets them fresh", async () => {
    await createCacheOver(g.url, g.rootToken, "stats-pub", { isPublic: true });
    await pushPath("stats-pub", "first");
    const objects = async (token?: string) => {
      const res = await get("/_api/v1/caches/stats-pub/stats", token);
      expect(res.status).toBe(200);
      return ((await res.json()) as { objects: number }).objects;
    };
    expect(await objects()).toBe(1);
    await pushPath("stats-pub", "second");
    // The anonymous answer comes from memory: no new scan of the cache per request.
    expect(await objects()).toBe(1);
    expect(await objects(g.rootToken)).toBe(2);
  });

  it("creating or removing a pin needs cq; reading pins needs cr", async () => {
    await createCacheOver(g.url, g.rootToken, "pinned");
    const storePath = await pushPath("pinned", "pin-me");
    const configurer = await g.mintToken("configurer", { pinned: ["r", "cr"] });
    const retention = await g.mintToken("retention", { pinned: ["r", "cr", "cq"] });
    const pin = (token: string, method: string) =>
      fetch(`${g.url}/_api/v1/caches/pinned/pins/release`, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        ...(method === "PUT" && { body: JSON.stringify({ store_paths: [storePath] }) }),
      });
    const refused = await pin(configurer, "PUT");
    expect(refused.status).toBe(403);
    expect((await refused.json()) as { error: string }).toMatchObject({ error: "AccessError" });
    expect((await pin(retention, "PUT")).status).toBe(200);
    expect((await pin(configurer, "GET")).status).toBe(200);
    expect((await pin(configurer, "DELETE")).status).toBe(403);
    expect((await pin(configurer, "GET")).status).toBe(200);
    expect((await pin(retention, "DELETE")).status).toBe(200);
  });
});
