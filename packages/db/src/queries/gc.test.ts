/**
 * Every statement of the collector is served by an index: planned with sequential scans
 * discouraged (`enable_seqscan = off` makes the planner use any index that can serve a query), no
 * plan may still scan `object`, `nar`, `chunk` or `chunkref` sequentially. Scanning the small
 * `cache` table and the collector's own queue and temporary tables is fine: those hold the
 * caches and the garbage, not the data. On SQLite the same holds for `EXPLAIN QUERY PLAN`: no
 * `SCAN` of those tables, only `SEARCH`es through an index.
 */
import { expect, it } from "vitest";
import { describeEachDb } from "../../../../test/support/postgres.ts";
import { dropExpiredSet, GC_SQL, prepareExpiredSet } from "./gc.ts";
import { GC_SQLITE } from "./gc-sqlite.ts";

const now = new Date("2026-01-01T00:00:00Z");
const ids = [1, 2, 3];
const PARAMS: Record<keyof typeof GC_SQL, unknown[]> = {
  expiringCaches: [86_400],
  fillExpired: [1, now, true],
  protectPinned: [now],
  protectClosures: [],
  deleteExpired: [],
  nextNarCandidates: [0],
  lockNars: [ids],
  deleteNars: [ids],
  dequeueNars: [ids, ids],
  lockStalePendingNars: [now],
  deletePendingNars: [ids],
  queueRecentOrphanChunks: [now],
  nextChunkCandidates: [0],
  lockChunks: [ids],
  tombstoneChunks: [ids],
  dequeueChunks: [ids, ids],
  tombstoneStalePendingChunks: [now],
  nextTombstones: [0],
  deleteTombstones: [ids],
  estimate: [now, now, false],
};
const DATA_TABLES = new Set(["object", "nar", "chunk", "chunkref"]);

interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  Plans?: PlanNode[];
}

function seqScans(node: PlanNode, out: string[] = []): string[] {
  if (node["Node Type"] === "Seq Scan" && node["Relation Name"]) out.push(node["Relation Name"]);
  for (const child of node.Plans ?? []) seqScans(child, out);
  return out;
}

/** Sample parameters of the SQLite statements (`?n`), by statement. */
const SQLITE_PARAMS: Partial<Record<keyof typeof GC_SQLITE, unknown[]>> = {
  ...PARAMS,
  queueChunksOfUnusedNars: [ids],
  deleteUnusedNars: [ids],
  queueChunksOfNars: [ids],
  countExpired: [],
  dequeueExpired: [],
};
/** Statements that scan by design: the full sweep looks at every NAR. */
const SQLITE_SCANS_BY_DESIGN = new Set(["createExpired", "queueOrphanNars"]);

describeEachDb("GC statements use indexes", (getDb, kind) => {
  if (kind === "sqlite") {
    const names = (Object.keys(GC_SQLITE) as Array<keyof typeof GC_SQLITE>).filter(
      (n) => !SQLITE_SCANS_BY_DESIGN.has(n),
    );
    it.each(names)("%s", async (name) => {
      const scanned = await getDb().withSession(async (session) => {
        await prepareExpiredSet(session, { now, defaultRetentionSeconds: 86_400 });
        try {
          const plan = await session.query<{ detail: string }>(
            `EXPLAIN QUERY PLAN ${GC_SQLITE[name]}`,
            SQLITE_PARAMS[name] ?? [],
          );
          return plan.map((p) => p.detail).filter((d) => /^SCAN (object|nar|chunk|chunkref)\b/.test(d));
        } finally {
          await dropExpiredSet(session);
        }
      });
      expect(scanned).toEqual([]);
    });
    return;
  }
  it.each(Object.keys(GC_SQL) as Array<keyof typeof GC_SQL>)("%s", async (name) => {
    const scanned = await getDb().withSession(async (session) => {
      await prepareExpiredSet(session, { now, defaultRetentionSeconds: 86_400 });
      await session.exec("SET enable_seqscan = off");
      try {
        const [row] = await session.query<{ "QUERY PLAN": Array<{ Plan: PlanNode }> }>(
          `EXPLAIN (FORMAT JSON) ${GC_SQL[name]}`,
          PARAMS[name],
        );
        const plan = row?.["QUERY PLAN"]?.[0]?.Plan;
        if (!plan) throw new Error("no plan");
        return seqScans(plan);
      } finally {
        await session.exec("RESET enable_seqscan");
        await dropExpiredSet(session);
      }
    });
    expect(scanned.filter((t) => DATA_TABLES.has(t))).toEqual([]);
  });
});
