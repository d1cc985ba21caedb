/**
 * The database work of a NAR kept whole (the common case in a closure), on every database kind:
 * the statements its upload runs, seen at the driver (node:sqlite's statements, node-postgres's
 * queries), are one transaction and no lease or release; a chunk already stored is linked rather
 * than stored again; and what an upload leaves when it dies before its commit, or when its commit
 * fails, is gone after one GC run.
 */
import { DatabaseSync, StatementSync } from "node:sqlite";
import pg from "pg";
import { afterAll, afterEach, beforeAll, expect, it, vi } from "vitest";
import { createTestApp, type TestApp } from "../../../../test/support/app.ts";
import { count, gc, narOf, storedFiles, uploadNar } from "../../../../test/support/gc.ts";
import { lcgBytes, sha256Hex } from "../../../../test/support/nar.ts";
import { describeEachDb } from "../../../../test/support/postgres.ts";
import { sharedConcat, WholeNarChunk } from "./chunk-store.ts";
import { ingestNar } from "./ingest-nar.ts";

describeEachDb("ingest of a NAR kept whole", (getDb, kind) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ db: getDb() });
    await t.createCache("whole");
  });
  afterAll(() => t.close());
  afterEach(() => vi.restoreAllMocks());

  it("is one transaction of a few statements, with no lease taken or given back", async () => {
    const nar = narOf(lcgBytes(8_000, 1));
    const statements: string[] = [];
    const record = (text: string) => statements.push(text.trim().replace(/\s+/g, " "));
    if (kind === "sqlite") {
      const all = StatementSync.prototype.all;
      vi.spyOn(StatementSync.prototype, "all").mockImplementation(function (
        this: StatementSync,
        ...args: Parameters<StatementSync["all"]>
      ) {
        record(this.sourceSQL);
        return all.apply(this, args);
      });
      // BEGIN and COMMIT run as scripts on the connection.
      const exec = DatabaseSync.prototype.exec;
      vi.spyOn(DatabaseSync.prototype, "exec").mockImplementation(function (
        this: DatabaseSync,
        text: string,
      ) {
        record(text);
        return exec.call(this, text);
      });
    } else {
      const query = pg.Client.prototype.query;
      vi.spyOn(pg.Client.prototype, "query").mockImplementation(function (
        this: pg.Client,
        ...args: unknown[]
      ) {
        const first = args[0] as string | { text?: string };
        record(typeof first === "string" ? first : (first?.text ?? ""));
        return (query as (...a: unknown[]) => unknown).apply(this, args) as never;
      });
    }
    const uploaded = await uploadNar(t, { cache: "whole", nar });
    vi.restoreAllMocks();
    expect(uploaded.status).toBe(200);

    // The statements of the ingest itself: those on the tables it writes, and transaction control.
    const ingest = statements.filter(
      (s) => /\b(nar|chunk|chunkref|object)\b/i.test(s) || /^(begin|commit)/i.test(s),
    );
    expect(ingest.filter((s) => /^begin/i.test(s))).toHaveLength(1);
    expect(ingest.filter((s) => /^commit/i.test(s))).toHaveLength(1);
    // A lease given back lowers holders_count; a NAR kept whole never raises it.
    expect(ingest.filter((s) => /holders_count\s*-/i.test(s))).toEqual([]);
    expect(ingest.length).toBeLessThanOrEqual(kind === "sqlite" ? 8 : 6);
    expect(await count(t, "SELECT count(*) AS n FROM chunk WHERE holders_count > 0")).toBe(0);
  });

  it("links a stored chunk with the NAR's hash instead of storing it again", async () => {
    const nar = narOf(lcgBytes(9_000, 2));
    const first = await uploadNar(t, { cache: "whole", nar });
    expect(first.status).toBe(200);
    // The NAR row goes (its object with it); its chunk stays, valid and unreferenced.
    await t.db.withSession((s) =>
      s.query("DELETE FROM nar WHERE nar_hash = $1", [`sha256:${sha256Hex(nar)}`]),
    );
    const files = await storedFiles(t.storageDir);
    const chunks = await count(t, "SELECT count(*) AS n FROM chunk");

    const again = await uploadNar(t, { cache: "whole", nar });
    expect(again.status).toBe(200);
    expect(await storedFiles(t.storageDir)).toEqual(files);
    expect(await count(t, "SELECT count(*) AS n FROM chunk")).toBe(chunks);
    const res = await t.request(`/whole/nar/${again.hash}.nar`, { token: t.rootToken });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
  });

  it("leaves nothing when its commit fails, and nothing GC cannot remove when it dies before it", async () => {
    await gc(t);
    const files = await storedFiles(t.storageDir);
    const chunks = await count(t, "SELECT count(*) AS n FROM chunk");

    const nar = narOf(lcgBytes(7_000, 3));
    await expect(
      ingestNar(t.deps, {
        nar: (async function* () {
          yield nar;
        })(),
        claim: null,
        state: "V",
        commit: async () => {
          throw new Error("commit refused");
        },
      }),
    ).rejects.toThrow("commit refused");
    expect(await storedFiles(t.storageDir)).toEqual(files);
    expect(await count(t, "SELECT count(*) AS n FROM chunk")).toBe(chunks);

    // A process that dies between writing the chunk and the commit leaves a pending row and its file.
    const other = narOf(lcgBytes(7_000, 4));
    await new WholeNarChunk(t.deps, "zstd").store(
      { bytes: sharedConcat([other], other.length) },
      `sha256:${sha256Hex(other)}`,
    );
    expect((await storedFiles(t.storageDir)).length).toBe(files.length + 1);
    expect(await count(t, "SELECT count(*) AS n FROM chunk WHERE state = 'P'")).toBe(1);

    await gc(t, { pendingGraceSeconds: 0, now: new Date(Date.now() + 2_000) });
    expect(await storedFiles(t.storageDir)).toEqual(files);
    expect(await count(t, "SELECT count(*) AS n FROM chunk")).toBe(chunks);
  });
});
