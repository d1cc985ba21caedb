/**
 * CPU time of a process tree split by thread name (/proc/PID/task/TID/comm and stat), so a read
 * row can say where garretd's CPU went without a profiler's overhead: the main thread (comm
 * `node`, or the launcher's name), read and compression workers, libuv's pool (`libuv-worker`), V8's
 * helper threads (`V8 DefaultWorke`, GC and compiler work). Sampled before and after a phase; the
 * difference is that phase's CPU per thread group.
 *
 *   { "node": 812, "libuv-worker": 35, "V8 DefaultWorke": 60, "garret-read": 140 }   (ms)
 */
import { readdirSync, readFileSync } from "node:fs";

const TICK_MS = 10; // USER_HZ = 100 on Linux

export type ThreadCpu = Map<string, number>;

function children(pid: number): number[] {
  try {
    const text = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim();
    return text ? text.split(" ").map(Number) : [];
  } catch {
    return [];
  }
}

/** CPU ms of every thread of `pid` and its descendants, summed per thread name. */
export function threadCpu(pid: number): ThreadCpu {
  const out: ThreadCpu = new Map();
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop() as number;
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${p}/task`);
    } catch {
      continue; // The process ended.
    }
    for (const tid of tids) {
      try {
        const stat = readFileSync(`/proc/${p}/task/${tid}/stat`, "utf8");
        const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        const ms = (Number(fields[11]) + Number(fields[12])) * TICK_MS;
        // Threads of one kind share a name with a number (`libuv-worker`, `V8 DefaultWorke`).
        out.set(name, (out.get(name) ?? 0) + ms);
      } catch {
        // The thread ended between the listing and the read.
      }
    }
    stack.push(...children(p));
  }
  return out;
}

/** `after - before` per thread name (threads that ended in between are lost, as /proc forgets them). */
export function threadCpuDelta(before: ThreadCpu, after: ThreadCpu): ThreadCpu {
  const out: ThreadCpu = new Map();
  for (const [name, ms] of after) out.set(name, ms - (before.get(name) ?? 0));
  return out;
}

/** Adds `delta` into `total`. */
export function addThreadCpu(total: ThreadCpu, delta: ThreadCpu): void {
  for (const [name, ms] of delta) total.set(name, (total.get(name) ?? 0) + ms);
}

/** `name 61% (812 ms), …`, largest first, groups under 1% left out. */
export function renderThreadCpu(cpu: ThreadCpu): string {
  const total = [...cpu.values()].reduce((a, b) => a + b, 0);
  if (total <= 0) return "(no CPU)";
  return [...cpu.entries()]
    .filter(([, ms]) => ms / total >= 0.01)
    .sort((a, b) => b[1] - a[1])
    .map(([name, ms]) => `${name} ${((100 * ms) / total).toFixed(0)}% (${ms} ms)`)
    .join(", ");
}
