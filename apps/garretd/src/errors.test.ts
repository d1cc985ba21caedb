/** The error model: statuses, attic's discovery rewrite, and what never reaches a client. */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { describe, expect, it } from "vitest";
import { AtticError, classifyError } from "./errors.ts";

function pgError(message: string, fields: Record<string, unknown>): Error {
  return Object.assign(new Error(message), fields);
}

describe("classifyError", () => {
  it("maps kinds to atticd's statuses and messages", () => {
    expect(classifyError(new AtticError("NoSuchCache", { canDiscover: true })).body).toEqual({
      code: 404,
      error: "NoSuchCache",
      message: "The requested cache does not exist.",
    });
    expect(
      classifyError(new AtticError("RequestError", { detail: "Bad NAR Hash or Size" })).body.message,
    ).toBe("General request error: Bad NAR Hash or Size");
  });

  it("hides a cache from callers who may not discover it", () => {
    for (const kind of ["NoSuchCache", "NoSuchObject", "AccessError"] as const) {
      const c = classifyError(new AtticError(kind, { canDiscover: false }));
      expect(c.status).toBe(401);
      expect(c.body.error).toBe("Unauthorized");
    }
  });

  it("turns internal failures into a bare 500 with nothing from the cause", () => {
    const c = classifyError(new Error('relation "object" does not exist at /srv/garret/db.ts:12'));
    expect(c).toMatchObject({ status: 500, internal: true });
    expect(JSON.stringify(c.body)).not.toMatch(/relation|srv|db\.ts/);
  });

  it("answers 503 while a dependency is unreachable", () => {
    const refused = pgError("connect ECONNREFUSED 127.0.0.1:5432", { code: "ECONNREFUSED" });
    const wrapped = new Error("Failed query", { cause: refused });
    expect(classifyError(wrapped)).toMatchObject({ status: 503, body: { error: "ServiceUnavailable" } });
  });

  it("reports a cache destroyed during an upload as gone, not as a server error", () => {
    const fk = pgError(
      'insert or update on table "object" violates foreign key constraint "fk_object_cache"',
      {
        code: "23503",
        constraint: "fk_object_cache",
      },
    );
    expect(classifyError(new Error("Failed query", { cause: fk }))).toMatchObject({
      status: 404,
      body: { error: "NoSuchCache" },
    });
    const otherFk = pgError("violates foreign key constraint fk_chunkref_nar", {
      code: "23503",
      constraint: "fk_chunkref_nar",
    });
    expect(classifyError(otherFk).status).toBe(500);
  });

  it("answers 503 while another connection holds an SQLite file, and counts SQLite's errors as the database's", async () => {
    const dir = await mkdtemp(join(tmpdir(), "garret-errors-"));
    const holder = new DatabaseSync(join(dir, "server.db"));
    const waiter = new DatabaseSync(join(dir, "server.db"), { timeout: 10 });
    try {
      holder.exec("CREATE TABLE t (x); BEGIN IMMEDIATE; INSERT INTO t VALUES (1)");
      const busy = catchError(() => waiter.exec("BEGIN IMMEDIATE"));
      expect(classifyError(new Error("Failed query", { cause: busy }))).toMatchObject({
        status: 503,
        body: { error: "ServiceUnavailable" },
        source: "database",
      });
      const syntax = catchError(() => waiter.exec("SELEC 1"));
      expect(classifyError(syntax)).toMatchObject({ status: 500, internal: true, source: "database" });
    } finally {
      holder.close();
      waiter.close();
      await rm(dir, { recursive: true });
    }
  });
});

function catchError(fn: () => void): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected an error");
}
