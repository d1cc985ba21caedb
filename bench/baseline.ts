/**
 * The upload row's yardstick: what a single core needs to hash and compress the same bytes, with
 * the stock tools (`sha256sum`, `zstd -8 -T1`) reading the NAR from a file in the page cache.
 * An upload server has to do at least this much work per byte; with two cores it should beat the
 * two run one after the other.
 */
import { once } from "node:events";
import { createReadStream, createWriteStream } from "node:fs";
import { stat } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import { execOk } from "./exec.ts";
import { dumpNar, type PathInfo } from "./nix.ts";
import { mibPerSecond } from "./stats.ts";
import { narFileIn } from "./upload.ts";

export async function dumpToFile(storePath: string, file: string): Promise<number> {
  await pipeline(dumpNar(storePath), createWriteStream(file));
  return (await stat(file)).size;
}

/**
 * Dumps every path's NAR into `dir` (named as `narFileIn` says, read by corpus pushes) and all of
 * them, concatenated, into `concatenated` (the corpus baseline's input). Returns the total bytes.
 */
export async function dumpNarsTo(
  dir: string,
  paths: readonly PathInfo[],
  concatenated: string,
): Promise<number> {
  const out = createWriteStream(concatenated);
  let total = 0;
  try {
    for (const p of paths) {
      const file = narFileIn(dir, p);
      total += await dumpToFile(p.path, file);
      for await (const piece of createReadStream(file)) {
        if (!out.write(piece)) await once(out, "drain");
      }
    }
  } finally {
    await new Promise<void>((resolve, reject) =>
      out.end((err?: Error | null) => (err ? reject(err) : resolve())),
    );
  }
  return total;
}

export interface BaselineSample {
  sha256MiBps: number;
  zstdMiBps: number;
  /** bytes / (t_sha256 + t_zstd). */
  combinedMiBps: number;
  /** CPU-seconds (user + system) of the two commands together. */
  cpuSeconds: number;
}

/**
 * Runs the command under `sh`, which then prints its own /proc stat: fields 16 and 17 (cutime,
 * cstime) are the CPU time of the children it waited for, i.e. of the command. Wall ms and CPU s.
 */
async function timed(command: string, args: readonly string[]): Promise<{ ms: number; cpu: number }> {
  const started = performance.now();
  const stat = await execOk("sh", ["-c", '"$0" "$@" > /dev/null && cat /proc/$$/stat', command, ...args]);
  const ms = performance.now() - started;
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { ms, cpu: (Number(fields[13]) + Number(fields[14])) / 100 };
}

export async function measureBaseline(file: string, bytes: number): Promise<BaselineSample> {
  const sha = await timed("sha256sum", [file]);
  const zstd = await timed("zstd", ["-8", "-T1", "-q", "-f", "-o", "/dev/null", file]);
  return {
    sha256MiBps: mibPerSecond(bytes, sha.ms),
    zstdMiBps: mibPerSecond(bytes, zstd.ms),
    combinedMiBps: mibPerSecond(bytes, sha.ms + zstd.ms),
    cpuSeconds: sha.cpu + zstd.cpu,
  };
}
