/**
 * The upload row's yardstick: what a single core needs to hash and compress the same bytes, with
 * the stock tools (`sha256sum`, `zstd -8 -T1`) reading the NAR from a file in the page cache.
 * An upload server has to do at least this much work per byte; with two cores it should beat the
 * two run one after the other.
 */
import { createWriteStream } from "node:fs";
import { stat } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import { execOk } from "./exec.ts";
import { dumpNar } from "./nix.ts";
import { mibPerSecond } from "./stats.ts";

export async function dumpToFile(storePath: string, file: string): Promise<number> {
  await pipeline(dumpNar(storePath), createWriteStream(file));
  return (await stat(file)).size;
}

export interface BaselineSample {
  sha256MiBps: number;
  zstdMiBps: number;
  /** bytes / (t_sha256 + t_zstd). */
  combinedMiBps: number;
}

async function timed(command: string, args: readonly string[]): Promise<number> {
  const started = performance.now();
  await execOk(command, args);
  return performance.now() - started;
}

export async function measureBaseline(file: string, bytes: number): Promise<BaselineSample> {
  const shaMs = await timed("sha256sum", [file]);
  const zstdMs = await timed("zstd", ["-8", "-T1", "-q", "-f", "-o", "/dev/null", file]);
  return {
    sha256MiBps: mibPerSecond(bytes, shaMs),
    zstdMiBps: mibPerSecond(bytes, zstdMs),
    combinedMiBps: mibPerSecond(bytes, shaMs + zstdMs),
  };
}
