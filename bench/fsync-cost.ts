/**
 * What durability costs the upload path (issue 14): local storage writes each chunk file to a
 * temporary file, fsyncs it, renames it into place and fsyncs the directory. This measures, in one
 * run and interleaved, the chunk files of uploads written
 *
 *   disk       through `LocalStorage.put` (what garretd does) on the disk under $TMPDIR;
 *   tmpfs      the same on /dev/shm, where fsync returns at once (the disk's other costs gone too);
 *   no-fsync   on the same disk, the same temporary file and rename without either fsync (bench
 *              only: garretd has no such switch);
 *   per-NAR    on the same disk, every file of a NAR written first, then all fsynced at once, then
 *              renamed, then each directory fsynced once (the batching issue 14 suggests).
 *
 * Files: the chunks a closure-shaped corpus (bench/corpus.ts `closureSizes`) and one big path are
 * cut into with the benchmark's chunking (FastCDC 16/64/256 KiB, NARs under 64 KiB whole), each
 * file the chunk's size (incompressible bytes: an upper bound on what zstd leaves). NARs are
 * written by 5 uploads at once (attic push -j 5), each NAR's files 8 at a time (garretd's
 * upload concurrency); the big path alone.
 *
 *   node bench/fsync-cost.ts [--closure-paths 400] [--big-mib 1024] [--reps 3]
 */
import { randomBytes, randomUUID } from "node:crypto";
import { mkdir, mkdtemp, open, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { FastCdcChunker } from "@garret/chunking";
import { LocalStorage } from "@garret/storage";
import { closureSizes } from "./corpus.ts";

const { values } = parseArgs({
  options: {
    "closure-paths": { type: "string", default: "400" },
    "big-mib": { type: "string", default: "1024" },
    reps: { type: "string", default: "3" },
  },
});
const CLOSURE_PATHS = Number(values["closure-paths"]);
const BIG_MIB = Number(values["big-mib"]);
const REPS = Number(values.reps);
const THRESHOLD = 65_536;
const PARAMS = { minSize: 16_384, avgSize: 65_536, maxSize: 262_144 };
const NAR_PARALLELISM = 5;
const FILE_CONCURRENCY = 8;

type Variant = "disk" | "tmpfs" | "no-fsync" | "per-NAR";
const VARIANTS: Variant[] = ["disk", "tmpfs", "no-fsync", "per-NAR"];

/** One pseudo-random pool the chunk bytes are cut from (contents do not matter to the file system). */
const POOL = randomBytes(64 * 1024 * 1024);

/** Chunk sizes of a NAR of `size` bytes, cut as garretd cuts it. */
function chunkSizes(size: number, seed: number): number[] {
  if (size < THRESHOLD) return [size];
  const cdc = new FastCdcChunker(PARAMS);
  const sizes: number[] = [];
  let at = 0;
  const offset = (seed * 7919) % (POOL.length / 2);
  while (at < size) {
    const n = Math.min(1024 * 1024, size - at);
    const start = (offset + (at % (POOL.length / 2))) % (POOL.length - n);
    for (const c of cdc.push(POOL.subarray(start, start + n))) sizes.push(c.length);
    at += n;
  }
  for (const c of cdc.finish()) if (c.length > 0) sizes.push(c.length);
  return sizes;
}

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** atticd's fan-out layout, as LocalStorage lays files out. */
function pathIn(root: string, name: string): string {
  return join(root, name.slice(0, 1), name.slice(0, 2), name);
}

async function writeFileAt(path: string, body: Uint8Array, sync: boolean): Promise<void> {
  const handle = await open(path, "wx");
  try {
    await handle.writeFile(body);
    if (sync) await handle.sync();
  } finally {
    await handle.close();
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function pool<T>(items: readonly T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}

/** A writer of one NAR's chunk files for a variant, on a root directory. */
async function writerFor(variant: Variant, root: string): Promise<(files: Uint8Array[]) => Promise<void>> {
  if (variant === "disk" || variant === "tmpfs") {
    const storage = await LocalStorage.open({ type: "local", path: root });
    return (files) => pool(files, FILE_CONCURRENCY, (f) => storage.put(`${randomUUID()}.chunk`, f));
  }
  const made = new Set<string>();
  const ensureDir = async (dir: string) => {
    if (made.has(dir)) return;
    await mkdir(dir, { recursive: true });
    made.add(dir);
  };
  if (variant === "no-fsync") {
    return (files) =>
      pool(files, FILE_CONCURRENCY, async (f) => {
        const path = pathIn(root, `${randomUUID()}.chunk`);
        await ensureDir(dirname(path));
        const temp = join(dirname(path), `.tmp-${randomUUID()}`);
        await writeFileAt(temp, f, false);
        await rename(temp, path);
      });
  }
  return async (files) => {
    const placed = files.map((f) => {
      const path = pathIn(root, `${randomUUID()}.chunk`);
      return { f, path, temp: join(dirname(path), `.tmp-${randomUUID()}`) };
    });
    for (const p of placed) await ensureDir(dirname(p.path));
    await pool(placed, FILE_CONCURRENCY, (p) => writeFileAt(p.temp, p.f, false));
    await pool(placed, FILE_CONCURRENCY, async (p) => {
      const handle = await open(p.temp, "r+");
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    });
    await pool(placed, FILE_CONCURRENCY, (p) => rename(p.temp, p.path));
    await pool([...new Set(placed.map((p) => dirname(p.path)))], FILE_CONCURRENCY, syncDir);
  };
}

/** Seconds to write every NAR's files (NAR_PARALLELISM NARs at once) on a fresh root. */
async function measure(variant: Variant, nars: number[][], parallel: number): Promise<number> {
  const base = variant === "tmpfs" ? "/dev/shm" : tmpdir();
  const root = await mkdtemp(join(base, "garret-fsync-"));
  try {
    const write = await writerFor(variant, root);
    let offset = 0;
    const bodies = nars.map((sizes) =>
      sizes.map((n) => {
        const start = offset % (POOL.length - n);
        offset += n;
        return POOL.subarray(start, start + n);
      }),
    );
    const started = performance.now();
    await pool(bodies, parallel, write);
    return (performance.now() - started) / 1000;
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

async function main(): Promise<void> {
  const random = seeded(17);
  const closure = closureSizes(CLOSURE_PATHS, random).map((size, i) => chunkSizes(size, i));
  const big = [chunkSizes(BIG_MIB * 1024 * 1024, 99)];
  const workloads = [
    { name: `closure corpus (${CLOSURE_PATHS} paths)`, nars: closure, parallel: NAR_PARALLELISM },
    { name: `one ${BIG_MIB} MiB path`, nars: big, parallel: 1 },
  ];
  for (const w of workloads) {
    const files = w.nars.reduce((s, n) => s + n.length, 0);
    const bytes = w.nars.reduce((s, n) => s + n.reduce((a, b) => a + b, 0), 0);
    const samples = new Map<Variant, number[]>(VARIANTS.map((v) => [v, []]));
    for (let rep = 0; rep < REPS; rep++) {
      // Rotate the order so no variant always runs first (or after the same neighbour).
      for (let k = 0; k < VARIANTS.length; k++) {
        const v = VARIANTS[(k + rep) % VARIANTS.length] as Variant;
        const s = await measure(v, w.nars, w.parallel);
        samples.get(v)?.push(s);
        process.stderr.write(`${w.name} rep ${rep + 1} ${v}: ${s.toFixed(2)} s\n`);
      }
    }
    const mib = bytes / 1024 / 1024;
    console.log(`\n${w.name}: ${w.nars.length} NARs, ${files} chunk files, ${mib.toFixed(0)} MiB`);
    console.log("| variant | median s | MiB/s | ms per NAR | vs disk |");
    console.log("| --- | --- | --- | --- | --- |");
    const disk = median(samples.get("disk") as number[]);
    for (const v of VARIANTS) {
      const s = median(samples.get(v) as number[]);
      console.log(
        `| ${v} | ${s.toFixed(2)} | ${(mib / s).toFixed(0)} | ${((s * 1000) / w.nars.length).toFixed(2)} | ${(s / disk).toFixed(2)}x |`,
      );
    }
  }
}

await main();
