/**
 * A scaled-out deployment on one machine: two `--mode api-server` processes and garbage collectors
 * on one Postgres database and one S3 bucket (s3rver). Migrations run through `--mode db-migrations`,
 * twice at once; an upload through one API server is served by the other (narinfo, NAR through the
 * presigned redirect, status page, metrics); GC runs in one place at a time (the advisory lock makes
 * a collector skip while another holds it; two one-shot collectors started together both finish,
 * each having run or skipped). Both API servers keep narinfo in memory and forget it when the database's
 * change notifications say another writer changed it. Without Postgres (GARRET_TEST_POSTGRES_URL) the
 * embedded SQLite database is not shared, and the test shows a second process is refused.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GC_LOCK_KEY } from "@garret/db";
import { parseNarInfo } from "@garret/nix";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ClusterConfig,
  type GarretdProcess,
  runGarretdOnce,
  spawnGarretd,
  writeClusterConfig,
} from "../support/garretd-cluster.ts";
import { lcgBytes, makeNar } from "../support/nar.ts";
import { createTestDatabase, postgresTestUrl } from "../support/postgres.ts";
import { parsePrometheus } from "../support/prometheus.ts";
import { httpRequester, pushNar } from "../support/push-nar.ts";
import { type S3rverHandle, startS3rver } from "../support/s3rver.ts";
import { zstdDecompressSync } from "../support/zstd.ts";

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "garret-scale-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function gcRunsLogged(output: string): { ran: number; skipped: number } {
  return {
    ran: (output.match(/"msg":"garbage collection: deleted/g) ?? []).length,
    skipped: (output.match(/garbage collection skipped: another collector holds the lock/g) ?? []).length,
  };
}

if (postgresTestUrl()) {
  describe("scale-out: two API servers and collectors on one Postgres and one bucket", () => {
    let dir: string;
    let s3: S3rverHandle;
    let databaseUrl: string;
    let config: ClusterConfig;
    let a: GarretdProcess;
    let b: GarretdProcess;
    const ctx = () => ({ configPath: config.configPath, dir });

    beforeAll(async () => {
      dir = await tempDir();
      s3 = await startS3rver();
      cleanups.push(s3.stop);
      const database = await createTestDatabase({ migrated: false });
      cleanups.push(database.drop);
      databaseUrl = database.url;
      config = await writeClusterConfig({
        dir,
        databaseUrl,
        storage: { type: "s3", s3 },
        gcInterval: "1 hour",
      });
    });

    it("runs migrations once even when two migrators start together", async () => {
      const [first, second] = await Promise.all([
        runGarretdOnce(ctx(), "db-migrations"),
        runGarretdOnce(ctx(), "db-migrations"),
      ]);
      expect(first.code, first.output).toBe(0);
      expect(second.code, second.output).toBe(0);
      const applied = [first.output, second.output].map((o) => {
        const line = o.split("\n").find((l) => l.includes('"msg":"database migrations applied"'));
        return (JSON.parse(line ?? "{}") as { applied?: string[] }).applied?.length ?? -1;
      });
      // One of them applied everything; the other waited on the lock and found nothing left to do.
      applied.sort((x, y) => x - y);
      expect(applied[0]).toBe(0);
      expect(applied[1]).toBeGreaterThan(0);
    });

    it("serves through one API server what was uploaded through the other", async () => {
      [a, b] = await Promise.all([spawnGarretd(ctx(), "api-server"), spawnGarretd(ctx(), "api-server")]);
      cleanups.push(a.stop, b.stop);
      const viaA = httpRequester(a.url, config.rootToken);
      const viaB = httpRequester(b.url, config.rootToken);
      const created = await viaA("/_api/v1/cache-config/shared", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          keypair: "Generate",
          is_public: true,
          store_dir: "/nix/store",
          priority: 41,
          upstream_cache_key_names: [],
        }),
      });
      expect(created.status).toBe(200);
      const nar = makeNar({ type: "regular", contents: lcgBytes(200_000, 3) });
      const pushed = await pushNar(viaA, "shared", { nar, name: "scaled" });
      expect(pushed.status, JSON.stringify(pushed.body)).toBe(200);

      const narinfoRes = await viaB(`/shared/${pushed.hash}.narinfo`, {});
      expect(narinfoRes.status).toBe(200);
      const info = parseNarInfo(await narinfoRes.text());
      expect(info.storePath).toBe(pushed.storePath);
      const narRes = await fetch(`${b.url}/shared/${info.url}`);
      expect(narRes.status).toBe(200);
      const body = zstdDecompressSync(Buffer.from(await narRes.arrayBuffer()));
      expect(body.equals(nar)).toBe(true);

      const page = await (await fetch(`${b.url}/`)).text();
      expect(page).toContain("<code>shared</code>");
      expect(page).toContain(pushed.storePath);

      const metricsB = parsePrometheus(await (await fetch(`${b.url}/metrics`)).text());
      expect(metricsB.value("garret_http_requests_total", { route: "/:cache/:file", status: "200" })).toBe(1);
      expect(
        metricsB.value("garret_http_response_bytes_total", { route: "/:cache/nar/:file" }),
      ).toBeGreaterThan(0);
      expect(metricsB.value("garret_http_requests_total", { route: "/_api/v1/upload-path" })).toBe(0);
      const metricsA = parsePrometheus(await (await fetch(`${a.url}/metrics`)).text());
      expect(metricsA.value("garret_upload_received_bytes_total")).toBeGreaterThanOrEqual(nar.length);
      expect(metricsA.value("garret_storage_written_bytes_total")).toBeGreaterThan(0);
    });

    it("keeps narinfo in memory while the change feed is live, and forgets on any writer's change", async () => {
      const viaA = httpRequester(a.url, config.rootToken);
      const viaB = httpRequester(b.url, config.rootToken);
      const feedLive = async (p: GarretdProcess) =>
        parsePrometheus(await (await fetch(`${p.url}/metrics`)).text()).value("garret_change_feed_live");
      expect(await feedLive(a)).toBe(1);
      expect(await feedLive(b)).toBe(1);
      const nar = makeNar({ type: "regular", contents: lcgBytes(50_000, 9) });
      const pushed = await pushNar(viaA, "shared", { nar, name: "memoised" });
      expect(pushed.status, JSON.stringify(pushed.body)).toBe(200);
      const narinfo = `/shared/${pushed.hash}.narinfo`;
      expect((await viaB(narinfo, {})).status).toBe(200);

      // A writer that does not notify (the trigger disabled for it) leaves B's memo in place well
      // past the 1 s fallback bound: B really answers from memory.
      const sql = new pg.Client({ connectionString: databaseUrl });
      await sql.connect();
      try {
        await sql.query("BEGIN");
        await sql.query('ALTER TABLE object DISABLE TRIGGER "garret-object-deleted"');
        await sql.query("DELETE FROM object WHERE store_path_hash = $1", [pushed.hash]);
        await sql.query('ALTER TABLE object ENABLE TRIGGER "garret-object-deleted"');
        await sql.query("COMMIT");
        await new Promise((r) => setTimeout(r, 1500));
        expect((await viaB(narinfo, {})).status).toBe(200);

        // Any change that notifies makes both servers forget at once.
        await sql.query("UPDATE cache SET priority = 40 WHERE name = 'shared'");
        await expect.poll(async () => (await viaB(narinfo, {})).status, { timeout: 5000 }).toBe(404);
        expect((await viaA(narinfo, {})).status).toBe(404);

        // A path deleted through A is gone from B as soon as the notification arrives.
        const again = await pushNar(viaA, "shared", { nar, name: "memoised-again" });
        expect(again.status, JSON.stringify(again.body)).toBe(200);
        const againInfo = `/shared/${again.hash}.narinfo`;
        expect((await viaB(againInfo, {})).status).toBe(200);
        expect((await viaA(againInfo, { method: "DELETE" })).status).toBe(200);
        await expect.poll(async () => (await viaB(againInfo, {})).status, { timeout: 5000 }).toBe(404);
      } finally {
        await sql.end();
      }
    });

    it("runs GC in one place at a time: a collector skips while another holds the lock", async () => {
      const holder = new pg.Client({ connectionString: databaseUrl });
      await holder.connect();
      try {
        const [{ locked }] = (
          await holder.query("SELECT pg_try_advisory_lock($1::bigint) AS locked", [GC_LOCK_KEY])
        ).rows as [{ locked: boolean }];
        expect(locked).toBe(true);
        const collector = await spawnGarretd(ctx(), "garbage-collector");
        cleanups.push(collector.stop);
        await collector.waitForLog("garbage collection skipped");
        const once = await runGarretdOnce(ctx(), "garbage-collector-once");
        expect(once.code, once.output).toBe(0);
        expect(gcRunsLogged(once.output)).toEqual({ ran: 0, skipped: 1 });
        await collector.stop();
        expect(gcRunsLogged(collector.logs())).toEqual({ ran: 0, skipped: 1 });
      } finally {
        await holder.query("SELECT pg_advisory_unlock($1::bigint)", [GC_LOCK_KEY]);
        await holder.end();
      }
    });

    it("lets two collectors started together finish cleanly, and keeps what is still referenced", async () => {
      const runs = await Promise.all([
        runGarretdOnce(ctx(), "garbage-collector-once"),
        runGarretdOnce(ctx(), "garbage-collector-once"),
      ]);
      for (const r of runs) expect(r.code, r.output).toBe(0);
      const logged = runs.map((r) => gcRunsLogged(r.output));
      expect(logged.reduce((n, l) => n + l.ran + l.skipped, 0)).toBe(2);
      expect(logged.some((l) => l.ran === 1)).toBe(true);
      // The path uploaded earlier has no retention limit, so it is still served.
      const page = await (await fetch(`${a.url}/`)).text();
      expect(page).toMatch(/-scaled<\/code>/);
    });
  });
} else {
  describe("scale-out without Postgres", () => {
    it("refuses a second process on the same embedded SQLite database", async () => {
      const dir = await tempDir();
      const config = await writeClusterConfig({
        dir,
        storage: { type: "local", path: join(dir, "storage") },
      });
      const ctx = { configPath: config.configPath, dir };
      const first = await spawnGarretd(ctx, "monolithic");
      cleanups.push(first.stop);
      const second = await runGarretdOnce(ctx, "api-server");
      expect(second.code).toBe(1);
      expect(second.output).toMatch(
        /the SQLite database \S+server\.db is in use by process \d+; it allows one process at a time/,
      );
      expect((await fetch(`${first.url}/healthz`)).status).toBe(200);
    });
  });
}
