/**
 * A database statement that fails while it carries a cache's signing key does not put the key in
 * the log. A trigger installed behind the real process's back makes every insert into and update of
 * `cache` fail; creating a cache (given and generated keys) and configuring one with a new key then
 * answer 500, and the captured output holds neither the keys nor anything shaped like a Nix secret key.
 */
import { generateSecretKey } from "@garret/nix";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DbKind, type GarretdHandle, startGarretd } from "../support/garretd.ts";
import { postgresTestUrl } from "../support/postgres.ts";
import { createCache, openHandleDb } from "./support.ts";

const FAIL_CACHE_WRITES: Record<DbKind, string[]> = {
  postgres: [
    `CREATE FUNCTION garret_test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN RAISE EXCEPTION 'cache writes are refused by this test'; END $$`,
    `CREATE TRIGGER garret_test_refuse BEFORE INSERT OR UPDATE ON cache
     FOR EACH ROW EXECUTE FUNCTION garret_test_refuse()`,
  ],
  sqlite: ["INSERT", "UPDATE"].map(
    (event) => `CREATE TRIGGER garret_test_refuse_${event.toLowerCase()} BEFORE ${event} ON cache
     BEGIN SELECT RAISE(ABORT, 'cache writes are refused by this test'); END`,
  ),
};

/** `name:` + base64 of 64 bytes: the shape of every Nix secret key. */
const SECRET_KEY_SHAPE = /[A-Za-z0-9._-]+:[A-Za-z0-9+/]{86}==/;

/** The real process runs on its embedded database, and on Postgres when the tier is on. */
const dbs: DbKind[] = postgresTestUrl() ? ["sqlite", "postgres"] : ["sqlite"];

describe.each(dbs)("no signing key in the log when a cache statement fails [%s]", (db) => {
  let g: GarretdHandle;
  const given = generateSecretKey("logtest");
  const rotated = generateSecretKey("kept");

  beforeAll(async () => {
    g = await startGarretd({ db, env: { GARRET_LOG: "debug" } });
    await createCache(g.url, g.rootToken, "kept");
    // The embedded database is garretd's alone: install the trigger while the server is stopped.
    if (db === "sqlite") await g.stopProcess();
    const handle = await openHandleDb(g);
    try {
      for (const statement of FAIL_CACHE_WRITES[db]) await handle.withSession((s) => s.query(statement));
    } finally {
      await handle.close();
    }
    if (db === "sqlite") await g.startProcess();
  }, 120_000);
  afterAll(() => g?.stop());

  const call = (method: string, cache: string, body: unknown) =>
    fetch(`${g.url}/_api/v1/cache-config/${cache}`, {
      method,
      headers: { authorization: `Bearer ${g.rootToken}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  const create = (keypair: unknown) => ({
    keypair,
    is_public: false,
    store_dir: "/nix/store",
    priority: 41,
    upstream_cache_key_names: [],
  });

  it("create with a given key, create with a generated key, configure a new key: 500, no key logged", async () => {
    const statuses = [
      (await call("POST", "logtest", create({ Keypair: given }))).status,
      (await call("POST", "generated", create("Generate"))).status,
      (await call("PATCH", "kept", { keypair: { Keypair: rotated } })).status,
      (await call("PATCH", "kept", { keypair: "Generate" })).status,
    ];
    expect(statuses).toEqual([500, 500, 500, 500]);
    const logs = g.logs();
    // The failures were logged, with the database's reason.
    expect(logs.match(/cache writes are refused by this test/g)?.length ?? 0).toBeGreaterThanOrEqual(4);
    for (const key of [given, rotated]) {
      expect(logs).not.toContain(key);
      expect(logs).not.toContain((key.split(":")[1] as string).slice(0, 40));
    }
    expect(logs).not.toMatch(SECRET_KEY_SHAPE);
  }, 60_000);
});
