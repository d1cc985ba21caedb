/**
 * An atticd `server.db` served in place: a SQLite file built the way atticd leaves it (its
 * migrations replayed from test/fixtures/atticd-schema-sqlite.sql, then a cache, a two-chunk NAR,
 * its chunks and chunkrefs and an object written in atticd's formats, the chunk files in attic's
 * local storage layout), then the real garretd started on `sqlite://…?mode=rwc`: narinfo exactly as
 * atticd signs it, the NAR served, a new upload, retention GC; afterwards atticd's tables, indexes
 * and seaql_migrations rows are as before, and the file still takes atticd-style writes on a
 * connection without any of garret's functions (atticd can open it again).
 */
import { createHash, createPrivateKey, createPublicKey, randomUUID, sign } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { setTimeout as sleep } from "node:timers/promises";
import { zstdCompressSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storageFileNames } from "../support/cache-api.ts";
import { type GarretdHandle, startGarretd } from "../support/garretd.ts";
import { lcgBytes, narOfFile } from "../support/nar.ts";
import { httpRequester, pushNar } from "../support/push-nar.ts";
import { zstdDecompressSync } from "../support/zstd.ts";

const FIXTURE = new URL("../fixtures/atticd-schema-sqlite.sql", import.meta.url);
const HASH = "nm1w9sdm6j6icmhd2q3260hl1w9zj6li";
const STORE_PATH = `/nix/store/${HASH}-attic-test-no-deps`;
const REFERENCES = ["0c2b7ib5jkp8gsrpvjlnc9q0m8xl7c4d-dep-b", "09xmjmn9jd8p8b4n2hvvsfnqm2b0bd7y-dep-a"];
/** atticd's (sqlx's) timestamp text: RFC 3339, nanoseconds, `+00:00`. */
const ATTICD_TIME = "2025-01-01T00:00:00.123456789+00:00";
const ATTICD_TABLES = ["cache", "nar", "object", "chunk", "chunkref", "seaql_migrations"];

const hex = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

const NIX32 = "0123456789abcdfghijklmnpqrsvwxyz";
/** Nix's base-32 (as `nix hash to-base32`), for the signature fingerprint. */
function nix32(bytes: Buffer): string {
  let out = "";
  for (let n = Math.ceil((bytes.length * 8) / 5) - 1; n >= 0; n--) {
    const b = n * 5;
    const i = b >> 3;
    const j = b & 7;
    const c =
      ((bytes[i] ?? 0) >> j) | (j > 3 && i + 1 < bytes.length ? ((bytes[i + 1] ?? 0) << (8 - j)) & 0xff : 0);
    out += NIX32[c & 0x1f];
  }
  return out;
}

/** The narinfo atticd serves for the object: its field order, hex NarHash, one signature. */
function atticdNarinfo(secretKey: string, nar: Buffer): string {
  const [name, b64] = secretKey.split(":") as [string, string];
  const seed = Buffer.from(b64, "base64").subarray(0, 32);
  const key = createPrivateKey({
    key: Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]),
    format: "der",
    type: "pkcs8",
  });
  expect(createPublicKey(key).export({ format: "der", type: "spki" }).subarray(12)).toEqual(
    Buffer.from(b64, "base64").subarray(32),
  );
  const narHash = Buffer.from(hex(nar), "hex");
  const refs = [...REFERENCES]
    .sort()
    .map((r) => `/nix/store/${r}`)
    .join(",");
  const fingerprint = `1;${STORE_PATH};sha256:${nix32(narHash)};${nar.length};${refs}`;
  const sig = sign(null, Buffer.from(fingerprint), key).toString("base64");
  return [
    `StorePath: ${STORE_PATH}`,
    `URL: nar/${HASH}.nar`,
    "Compression: zstd",
    `NarHash: sha256:${narHash.toString("hex")}`,
    `NarSize: ${nar.length}`,
    `References: ${REFERENCES.join(" ")}`,
    `Sig: ${name}:${sig}`,
    "",
  ].join("\n");
}

/** atticd's tables as its own SQLite connection would describe them. */
function atticdSchema(path: string) {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const list = JSON.stringify(ATTICD_TABLES);
    return {
      columns: db
        .prepare(
          `SELECT t.name AS t, c.name, c.type, c."notnull", c.dflt_value, c.pk FROM sqlite_master t
           JOIN pragma_table_info(t.name) c WHERE t.type = 'table' AND t.name IN (SELECT value FROM json_each(?))
           ORDER BY t.name, c.cid`,
        )
        .all(list),
      foreignKeys: db
        .prepare(
          `SELECT t.name AS t, f.* FROM sqlite_master t JOIN pragma_foreign_key_list(t.name) f
           WHERE t.type = 'table' AND t.name IN (SELECT value FROM json_each(?)) ORDER BY t.name, f.id`,
        )
        .all(list),
      indexes: db
        .prepare(
          `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL
           AND tbl_name IN (SELECT value FROM json_each(?)) ORDER BY name`,
        )
        .all(list),
      seaql: db.prepare("SELECT version, applied_at FROM seaql_migrations ORDER BY version").all(),
    };
  } finally {
    db.close();
  }
}

describe("an atticd SQLite server.db served in place", () => {
  let dir: string;
  let dbPath: string;
  let storage: string;
  let g: GarretdHandle;
  const nar = narOfFile(lcgBytes(150_000, 7));
  const keypair = `legacy-1:${Buffer.concat([lcgBytes(32, 9), Buffer.alloc(32)]).toString("base64")}`;
  let before: ReturnType<typeof atticdSchema>;
  let chunkFiles: string[];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "garret-atticd-sqlite-"));
    dbPath = join(dir, "server.db");
    storage = join(dir, "storage");
    // The public half of the keypair, derived as libsodium lays it out (seed ‖ public key).
    const seed = Buffer.from(keypair.split(":")[1] as string, "base64").subarray(0, 32);
    const pub = createPublicKey(
      createPrivateKey({
        key: Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]),
        format: "der",
        type: "pkcs8",
      }),
    )
      .export({ format: "der", type: "spki" })
      .subarray(12);
    const fullKey = `legacy-1:${Buffer.concat([seed, pub]).toString("base64")}`;
    keypairUsed = fullKey;

    // Two chunks of the NAR, each a zstd file in attic's local layout (`<c0>/<c0c1>/<name>`).
    const half = Math.floor(nar.length / 2);
    const slices = [nar.subarray(0, half), nar.subarray(half)];
    chunkFiles = [];
    await writeFile(join(await ensure(storage), "VERSION"), "1");
    const atticd = new DatabaseSync(dbPath);
    atticd.exec("PRAGMA foreign_keys = ON");
    atticd.exec(readFileSync(FIXTURE, "utf8"));
    atticd
      .prepare(
        `INSERT INTO cache (name, keypair, is_public, store_dir, priority, upstream_cache_key_names, created_at)
         VALUES ('legacy', ?, 0, '/nix/store', 41, '["cache.nixos.org-1"]', ?)`,
      )
      .run(fullKey, ATTICD_TIME);
    atticd
      .prepare(
        `INSERT INTO nar (state, nar_hash, nar_size, compression, num_chunks, holders_count, created_at)
         VALUES ('V', ?, ?, 'zstd', 2, 0, ?)`,
      )
      .run(`sha256:${hex(nar)}`, nar.length, ATTICD_TIME);
    for (const [seq, slice] of slices.entries()) {
      const name = `${randomUUID()}.chunk`;
      const file = zstdCompressSync(slice);
      await writeFile(join(await ensure(join(storage, name.slice(0, 1), name.slice(0, 2))), name), file);
      chunkFiles.push(name);
      const { lastInsertRowid } = atticd
        .prepare(
          `INSERT INTO chunk (state, chunk_hash, chunk_size, file_hash, file_size, compression, remote_file,
             remote_file_id, holders_count, created_at)
           VALUES ('V', ?, ?, ?, ?, 'zstd', ?, ?, 0, ?)`,
        )
        .run(
          `sha256:${hex(slice)}`,
          slice.length,
          `sha256:${hex(file)}`,
          file.length,
          JSON.stringify({ Local: { name } }),
          `local:${name}`,
          ATTICD_TIME,
        );
      atticd
        .prepare("INSERT INTO chunkref (nar_id, seq, chunk_id) VALUES (1, ?, ?)")
        .run(seq, lastInsertRowid);
    }
    atticd
      .prepare(
        `INSERT INTO object (cache_id, nar_id, store_path_hash, store_path, "references", system, deriver, sigs,
           ca, created_at, last_accessed_at, created_by)
         VALUES (1, 1, ?, ?, ?, NULL, NULL, '[]', NULL, ?, NULL, 'alice')`,
      )
      .run(HASH, STORE_PATH, JSON.stringify(REFERENCES), ATTICD_TIME);
    atticd.close();
    before = atticdSchema(dbPath);

    g = await startGarretd({ databaseUrl: `sqlite://${dbPath}?mode=rwc`, storagePath: storage });
  });
  afterAll(async () => {
    await g?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  let keypairUsed = "";
  async function ensure(path: string): Promise<string> {
    await mkdir(path, { recursive: true });
    return path;
  }
  const get = (path: string, token: string | null = g.rootToken) =>
    fetch(`${g.url}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

  it("adopts the file and serves atticd's narinfo and NAR", async () => {
    expect(g.logs()).toContain('"adoptedAtticd":true');
    const narinfo = await get(`/legacy/${HASH}.narinfo`);
    expect(narinfo.status).toBe(200);
    expect(await narinfo.text()).toBe(atticdNarinfo(keypairUsed, nar));
    const body = await get(`/legacy/nar/${HASH}.nar`);
    expect(body.status).toBe(200);
    expect(zstdDecompressSync(Buffer.from(await body.arrayBuffer()))).toEqual(nar);
  });

  it("takes new uploads beside atticd's rows", async () => {
    const pushed = await pushNar(httpRequester(g.url, g.rootToken), "legacy", { contents: "new in garret" });
    expect(pushed.status).toBe(200);
    const narinfo = await get(`/legacy/${pushed.hash}.narinfo`);
    expect(narinfo.status).toBe(200);
    expect(await narinfo.text()).toContain(`NarHash: sha256:${hex(pushed.nar)}`);
  });

  it("collects atticd's expired object and its chunk files by retention", async () => {
    const patch = await fetch(`${g.url}/_api/v1/cache-config/legacy`, {
      method: "PATCH",
      headers: { authorization: `Bearer ${g.rootToken}`, "content-type": "application/json" },
      body: JSON.stringify({ retention_period: { Period: 1 } }),
    });
    expect(patch.status).toBe(200);
    // The NAR download above set last_accessed_at, recorded at the latest when the process stops;
    // retention counts whole seconds from there, so wait after the stop (a loaded machine may flush late).
    await g.stopProcess();
    await sleep(2_100);
    const gc = await g.runMode("garbage-collector-once");
    expect(gc.code, gc.stderr).toBe(0);
    await g.startProcess();
    expect((await get(`/legacy/${HASH}.narinfo`)).status).toBe(404);
    const left = await storageFileNames(storage);
    for (const name of chunkFiles) expect(left).not.toContain(name);
  });

  it("leaves atticd's schema and seaql_migrations as atticd expects, and the file writable by atticd", async () => {
    await g.stopProcess();
    const after = atticdSchema(dbPath);
    expect(after.seaql).toEqual(before.seaql);
    expect(after.foreignKeys).toEqual(before.foreignKeys);
    for (const index of before.indexes) expect(after.indexes).toContainEqual(index);
    for (const index of after.indexes) {
      if (!before.indexes.some((b) => b.name === index.name)) expect(String(index.name)).toMatch(/^garret-/);
    }
    // atticd's columns unchanged and in order; garret's additions are nullable.
    const key = (c: Record<string, unknown>) => `${c.t}.${c.name}`;
    const kept = after.columns.filter((c) => before.columns.some((b) => key(b) === key(c)));
    expect(kept).toEqual(before.columns);
    for (const c of after.columns.filter((c) => !kept.includes(c)))
      expect({ ...c, notnull: c.notnull }).toMatchObject({ notnull: 0 });

    // A plain connection (no garret functions, as atticd's sqlx has) can write what atticd writes.
    const atticd = new DatabaseSync(dbPath);
    try {
      atticd.exec("PRAGMA foreign_keys = ON");
      expect(atticd.prepare("PRAGMA integrity_check").get()).toEqual({ integrity_check: "ok" });
      expect(atticd.prepare("PRAGMA foreign_key_check").all()).toEqual([]);
      atticd
        .prepare(
          `INSERT INTO object (cache_id, nar_id, store_path_hash, store_path, "references", sigs, created_at)
           SELECT cache_id, nar_id, 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', '/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x', '[]', '[]', ?
           FROM object LIMIT 1`,
        )
        .run(ATTICD_TIME);
      atticd
        .prepare(
          "UPDATE object SET last_accessed_at = ? WHERE store_path_hash = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'",
        )
        .run(ATTICD_TIME);
      atticd.prepare("DELETE FROM object WHERE store_path_hash = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'").run();
      atticd.prepare("UPDATE cache SET deleted_at = ? WHERE name = 'legacy'").run(ATTICD_TIME);
    } finally {
      atticd.close();
    }
  });
});
