/**
 * Background threads yield the CPU to the event loop. Chunking and compression workers can keep
 * every core busy for as long as uploads last; on a machine with fewer cores than busy threads the
 * kernel then shares the CPU evenly, and the event loop, which answers every narinfo and NAR
 * request, waits its turn behind them (narinfo p99 in the hundreds of ms under four uploads on two
 * shared cores). A worker lowers its own thread's priority (Linux: `setpriority` on the thread id
 * applies to that thread only), so the loop runs first whenever it has work and the workers still
 * get every cycle it leaves. Elsewhere, or when refused, nothing changes.
 */
import { readlinkSync } from "node:fs";
import { setPriority } from "node:os";

/** Nice value of background threads (0 is normal, 19 the lowest). */
export const BACKGROUND_NICE = 10;

/** Lowers the calling thread's scheduling priority; false when the platform gives no thread id. */
export function lowerThisThreadPriority(nice = BACKGROUND_NICE): boolean {
  try {
    // "/proc/thread-self" -> "<pid>/task/<tid>" on Linux.
    const tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
    if (!Number.isInteger(tid) || tid <= 0 || tid === process.pid) return false;
    setPriority(tid, nice);
    return true;
  } catch {
    return false;
  }
}
