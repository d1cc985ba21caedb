/**
 * No cross-tenant oracle: a push-only tenant that sends a body which does not match its claimed NAR
 * hash gets the same answer whether the hash belongs to a NAR stored in someone else's private cache
 * (the dedup path) or to nothing at all (the new-upload path). Real process, embedded and Postgres.
 */
import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DbKind, type GarretdHandle, startGarretd } from "../support/garretd.ts";
import { postgresTestUrl } from "../support/postgres.ts";
import { atticNarInfo, createCache, makePath, putPath } from "./support.ts";

const dbs: DbKind[] = postgresTestUrl() ? ["sqlite", "postgres"] : ["sqlite"];

describe.each(dbs)("the same answer on the dedup and the new-upload path [%s]", (db) => {
  let g: GarretdHandle;
  beforeAll(async () => {
    g = await startGarretd({ db });
  }, 120_000);
  afterAll(() => g?.stop());

  it("garbage claiming another tenant's NAR hash vs garbage claiming a random one", async () => {
    await createCache(g.url, g.rootToken, "victim", false);
    await createCache(g.url, g.rootToken, "mallory", false);
    const secret = makePath("victim-secret", 144, 5);
    expect(await putPath(g.url, g.rootToken, "victim", secret)).toBe(200);
    const mallory = await g.mintToken("mallory", { mallory: ["w"] });

    const garbage = randomBytes(secret.nar.length);
    const answer = async (narHash: string) => {
      const p = { ...makePath("probe", 144, 6), nar: garbage, narHash };
      const res = await fetch(`${g.url}/_api/v1/upload-path`, {
        method: "PUT",
        headers: {
          authorization: `Bearer ${mallory}`,
          "x-attic-nar-info": JSON.stringify(atticNarInfo("mallory", p)),
        },
        body: garbage,
      });
      return { status: res.status, body: await res.text() };
    };
    const stored = await answer(secret.narHash);
    const random = await answer(`sha256:${createHash("sha256").update(randomBytes(8)).digest("hex")}`);
    expect(stored.status).toBe(400);
    expect(stored).toEqual(random);
  }, 60_000);
});
