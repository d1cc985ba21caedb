/**
 * Peak resident memory of a server during a phase. Two figures:
 * - `mainMiB`: the process itself — VmHWM after a reset (`5` into /proc/PID/clear_refs, Linux >= 4.0)
 *   combined with VmRSS sampled every 100 ms;
 * - `treeMiB`: the largest sampled sum of VmRSS over the process and its descendants (compression
 *   helpers running as child processes count too).
 */
import { readdir, readFile, writeFile } from "node:fs/promises";

async function rssKiB(pid: number, field: "VmRSS" | "VmHWM" = "VmRSS"): Promise<number> {
  const text = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text);
  return m ? Number(m[1]) : 0;
}

async function descendants(root: number): Promise<number[]> {
  const parents = new Map<number, number[]>();
  for (const name of await readdir("/proc").catch(() => [] as string[])) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, "utf8").catch(() => "");
    // Field 4 (ppid) follows the parenthesised command name, which may itself contain spaces.
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    if (!Number.isFinite(ppid)) continue;
    const list = parents.get(ppid) ?? [];
    list.push(Number(name));
    parents.set(ppid, list);
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const p = stack.pop() as number;
    for (const c of parents.get(p) ?? []) {
      out.push(c);
      stack.push(c);
    }
  }
  return out;
}

export interface PeakRss {
  mainMiB: number;
  treeMiB: number;
}

export interface RssSampler {
  stop(): Promise<PeakRss>;
}

export async function sampleRss(pid: number): Promise<RssSampler> {
  const reset = await writeFile(`/proc/${pid}/clear_refs`, "5").then(
    () => true,
    () => false,
  );
  let main = await rssKiB(pid);
  let tree = main;
  let children: number[] = [];
  let ticks = 0;
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void (async () => {
      // The /proc walk costs a few ms; refresh the list of descendants once a second.
      if (ticks++ % 10 === 0) children = await descendants(pid);
      const own = await rssKiB(pid);
      let sum = own;
      for (const c of children) sum += await rssKiB(c);
      main = Math.max(main, own);
      tree = Math.max(tree, sum);
    })().finally(() => {
      busy = false;
    });
  }, 100);
  return {
    async stop() {
      clearInterval(timer);
      const hwm = reset ? await rssKiB(pid, "VmHWM") : 0;
      const mainKiB = Math.max(main, hwm);
      return { mainMiB: mainKiB / 1024, treeMiB: Math.max(tree, mainKiB) / 1024 };
    },
  };
}
