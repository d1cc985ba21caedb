/**
 * Reads what `node --cpu-prof --cpu-prof-dir=DIR` wrote for garretd: the main thread's profile,
 * and the worker threads' (compression, reads) added up into one summary.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type CpuProfile, type ProfileSummary, summariseProfile } from "./profile-summary.ts";

const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");

/**
 * The main thread's profile (`CPU.<date>.<time>.<pid>.0.<seq>.cpuprofile`; worker threads write
 * their own files with other thread ids, summarised by `readWorkerProfiles`).
 */
export async function readProfile(dir: string, skipMs: number): Promise<ProfileSummary> {
  const files = (await readdir(dir)).filter((f) => f.endsWith(".cpuprofile"));
  // Never a worker's profile for the main thread's (a process killed before it exits writes no
  // main-thread profile, while its workers that stopped when idle have written theirs). garretd's
  // launcher may replace its image (same pid): the short profile it leaves is not the server's,
  // so the longest main-thread profile is taken.
  const mains = files.filter((f) => f.split(".")[4] === "0");
  const candidates = mains.length > 0 ? mains : files.length === 1 ? files : [];
  let best: CpuProfile | undefined;
  for (const f of candidates) {
    const p = JSON.parse(await readFile(join(dir, f), "utf8")) as CpuProfile;
    if (!best || p.endTime - p.startTime > best.endTime - best.startTime) best = p;
  }
  if (!best) throw new Error(`no main-thread .cpuprofile written in ${dir}`);
  return summariseProfile(best, { skipMs, repoRoot: REPO_ROOT, top: 20 });
}

/**
 * The worker threads' profiles as one summary (their busy time added up). A piscina worker waits
 * for its next task in `atomicsWaitLoop`, which is counted as idle.
 */
export async function readWorkerProfiles(dir: string): Promise<ProfileSummary | null> {
  const files = (await readdir(dir)).filter((f) => f.endsWith(".cpuprofile") && f.split(".")[4] !== "0");
  if (files.length === 0) return null;
  const merged: CpuProfile = { nodes: [], startTime: 0, endTime: 0, samples: [], timeDeltas: [] };
  let offset = 0;
  for (const f of files) {
    const p = JSON.parse(await readFile(join(dir, f), "utf8")) as CpuProfile;
    let maxId = 0;
    for (const n of p.nodes) {
      const callFrame =
        n.callFrame.functionName === "atomicsWaitLoop"
          ? { ...n.callFrame, functionName: "(idle)" }
          : n.callFrame;
      merged.nodes.push({ ...n, callFrame, id: n.id + offset, children: n.children?.map((c) => c + offset) });
      maxId = Math.max(maxId, n.id);
    }
    for (const s of p.samples) merged.samples.push(s + offset);
    merged.timeDeltas.push(...p.timeDeltas);
    offset += maxId + 1;
  }
  return summariseProfile(merged, { repoRoot: REPO_ROOT, top: 20 });
}
