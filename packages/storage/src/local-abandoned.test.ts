/** Local storage: temporary files of killed writes are removed once old enough, objects never. */
import { mkdtemp, readdir, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { createStorage } from "./index.ts";

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

it("removes .tmp- files older than the cutoff and keeps objects and recent writes", async () => {
  const root = await mkdtemp(join(tmpdir(), "garret-abandoned-"));
  dirs.push(root);
  const storage = await createStorage({ type: "local", path: root });
  await storage.put("0f6c4b9e-0000-4000-8000-000000000001.chunk", Buffer.from("kept"));
  const fanout = join(root, "0", "0f");
  const old = join(fanout, ".tmp-dead");
  const recent = join(fanout, ".tmp-running");
  await writeFile(old, "half");
  await writeFile(recent, "half");
  const past = new Date(Date.now() - 3600_000);
  await utimes(old, past, past);
  expect(await storage.removeAbandonedWrites?.(new Date(Date.now() - 60_000))).toBe(1);
  expect((await readdir(fanout)).sort()).toEqual([
    ".tmp-running",
    "0f6c4b9e-0000-4000-8000-000000000001.chunk",
  ]);
});
