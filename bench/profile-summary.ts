/**
 * Summarises a V8 `.cpuprofile` (what `node --cpu-prof` writes) into self time per function and
 * per module, optionally ignoring the first `skipMs` of the profile (process start-up), so that a
 * report can say where garretd spends its CPU during one workload.
 *
 * Profile shape (Chrome DevTools protocol `Profiler.Profile`):
 *   { "nodes": [{ "id": 1, "callFrame": { "functionName": "", "url": "", "lineNumber": -1 },
 *                 "hitCount": 0, "children": [2] }, …],
 *     "startTime": 1234, "endTime": 5678, "samples": [2, 2, 3], "timeDeltas": [100, 98, 101] }
 */

export interface CpuProfile {
  nodes: Array<{
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }>;
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  name: string;
  ms: number;
  /** Share of the non-idle time in the window, percent. */
  percent: number;
}

export interface ProfileSummary {
  /** Length of the summarised window. */
  windowMs: number;
  /** Time spent running anything (everything but "(idle)"). */
  busyMs: number;
  topFunctions: ProfileEntry[];
  topModules: ProfileEntry[];
  /** Builtins (no script URL, e.g. `writev`) named with the nearest JavaScript frame that called them. */
  nativeByCaller: ProfileEntry[];
}

/** A short module name: `node:internal/…`, an npm package, or a path inside the repository. */
export function moduleOf(url: string, repoRoot: string): string {
  if (url === "") return "(native/V8)";
  const path = url.startsWith("file://") ? decodeURIComponent(url.slice(7)) : url;
  if (path.startsWith("node:")) return path.split("/").slice(0, 2).join("/");
  const nm = path.lastIndexOf("/node_modules/");
  if (nm >= 0) {
    const parts = path.slice(nm + 14).split("/");
    return parts[0]?.startsWith("@") ? `${parts[0]}/${parts[1]}` : (parts[0] ?? path);
  }
  return path.startsWith(`${repoRoot}/`) ? path.slice(repoRoot.length + 1) : path;
}

export function summariseProfile(
  profile: CpuProfile,
  opts: { skipMs?: number; top?: number; repoRoot: string },
): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  const skipUs = (opts.skipMs ?? 0) * 1000;
  let t = 0;
  let windowUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    t += delta;
    if (t < skipUs) continue;
    const id = profile.samples[i] as number;
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
    windowUs += delta;
  }
  const fnTotals = new Map<string, number>();
  const modTotals = new Map<string, number>();
  const nativeTotals = new Map<string, number>();
  const label = (frame: CpuProfile["nodes"][number]["callFrame"]): string => {
    const mod = moduleOf(frame.url, opts.repoRoot);
    return `${frame.functionName || "(anonymous)"} ${mod}${frame.lineNumber >= 0 ? `:${frame.lineNumber + 1}` : ""}`;
  };
  let busyUs = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url } = node.callFrame;
    if (functionName === "(idle)") continue;
    busyUs += us;
    const mod = functionName.startsWith("(") ? functionName : moduleOf(url, opts.repoRoot);
    const fn = functionName.startsWith("(") ? functionName : label(node.callFrame);
    fnTotals.set(fn, (fnTotals.get(fn) ?? 0) + us);
    modTotals.set(mod, (modTotals.get(mod) ?? 0) + us);
    if (url === "" && !functionName.startsWith("(")) {
      let up = parent.get(id);
      while (up !== undefined && byId.get(up)?.callFrame.url === "") up = parent.get(up);
      const caller = up === undefined ? undefined : byId.get(up);
      const key = `${functionName} <- ${caller ? label(caller.callFrame) : "(no JS caller)"}`;
      nativeTotals.set(key, (nativeTotals.get(key) ?? 0) + us);
    }
  }
  const top = opts.top ?? 15;
  const rank = (m: Map<string, number>): ProfileEntry[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: us / 1000, percent: busyUs > 0 ? (100 * us) / busyUs : 0 }));
  return {
    windowMs: windowUs / 1000,
    busyMs: busyUs / 1000,
    topFunctions: rank(fnTotals),
    topModules: rank(modTotals),
    nativeByCaller: rank(nativeTotals),
  };
}
