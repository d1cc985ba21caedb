/**
 * The benchmark corpus: store paths built by real Nix from this machine's own files (/usr/lib,
 * /usr/share, /usr/bin, …), so the bytes compress and chunk like real packages do. No nixpkgs.
 *
 * - `paths` input-addressed derivations (builder /bin/sh) whose NAR sizes follow a log-uniform
 *   distribution spanning 1:16384 (a few KiB to tens of MiB at the default size), scaled so that
 *   the sum is the requested total. Each copies a run of files (`cp --parents`, directories kept)
 *   and references up to three earlier paths, so narinfos carry real `References:`.
 * - `bigs`: single-file paths of `bigMiB` MiB each, the machine's files concatenated and every
 *   byte rotated by k (`tr`), so that each big path compresses like real data yet shares no chunk
 *   with the corpus or with another big path (a bijective byte map keeps zstd's ratio).
 *
 * Two shapes: `mixed` (the sizes above, median ~1 MiB at the default size) and `closure`, shaped
 * like a real NixOS system closure (issue 17's: 402 paths, median NAR 36 KiB, 251 under 64 KiB,
 * the largest 41 MiB), where per-NAR costs dominate: ~62% of paths 2-64 KiB, ~33% 64 KiB-2 MiB,
 * ~5% 2-40 MiB, whatever the total.
 *
 * The same files and options give the same derivations, so a second run reuses the store paths.
 */
import { lstat, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { nix, type PathInfo, pathInfo } from "./nix.ts";

const SOURCE_ROOTS = ["/usr/lib", "/usr/share", "/usr/bin", "/usr/sbin", "/usr/libexec"];
const SIZE_SPREAD = 16_384;

export type CorpusShape = "mixed" | "closure";

export interface CorpusOptions {
  shape: CorpusShape;
  /** Sum of the NAR sizes (`mixed`; `closure` sizes follow from the path count). */
  totalBytes: number;
  paths: number;
  bigBytes: number;
  bigCount: number;
  workDir: string;
}

export interface Corpus {
  /** Every corpus path, dependencies first. */
  paths: PathInfo[];
  bigs: PathInfo[];
  narBytes: number;
}

interface SourceFile {
  path: string;
  size: number;
}

/** Deterministic PRNG (mulberry32), so the corpus is the same on every run over the same files. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` sizes, log-uniform over a 1:spread range, scaled so that they sum to `total`. */
export function targetSizes(total: number, count: number, spread: number, random: () => number): number[] {
  const raw = Array.from({ length: count }, () => spread ** random());
  const scale = total / raw.reduce((a, b) => a + b, 0);
  return raw.map((r) => Math.max(512, Math.round(r * scale)));
}

const KiB = 1024;
/** Size bands of a system closure: [share of paths, smallest, largest] (log-uniform within a band). */
const CLOSURE_BANDS: ReadonlyArray<readonly [number, number, number]> = [
  [0.62, 2 * KiB, 64 * KiB],
  [0.33, 64 * KiB, 2048 * KiB],
  [0.05, 2048 * KiB, 40 * 1024 * KiB],
];

/** `count` sizes shaped like a NixOS system closure: mostly tens of KiB, a few tens of MiB. */
export function closureSizes(count: number, random: () => number): number[] {
  const sizes: number[] = [];
  for (const [band, [share, low, high]] of CLOSURE_BANDS.entries()) {
    const n = band === CLOSURE_BANDS.length - 1 ? count - sizes.length : Math.round(count * share);
    for (let i = 0; i < n; i++) sizes.push(Math.round(low * (high / low) ** random()));
  }
  // Interleave the bands so references (to earlier paths) join small and large paths alike.
  for (let i = sizes.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [sizes[i], sizes[j]] = [sizes[j] as number, sizes[i] as number];
  }
  return sizes;
}

async function scanDir(
  dir: string,
  out: Map<string, SourceFile[]>,
  budget: { files: number },
): Promise<void> {
  if (budget.files <= 0) return;
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const files: SourceFile[] = [];
  for (const e of entries) {
    const full = join(dir, e.name);
    // Names with newlines would break the newline-separated lists handed to the builders.
    if (full.includes("\n")) continue;
    if (e.isDirectory()) {
      await scanDir(full, out, budget);
    } else if (e.isFile()) {
      const info = await lstat(full).catch(() => undefined);
      if (info?.isFile() && (info.mode & 0o444) !== 0) files.push({ path: full, size: info.size });
    }
  }
  if (files.length > 0) {
    out.set(dir, files);
    budget.files -= files.length;
  }
}

/** Regular files under the source roots, grouped by directory, directories in a seeded shuffle. */
async function sourceFiles(random: () => number): Promise<SourceFile[][]> {
  const byDir = new Map<string, SourceFile[]>();
  for (const root of SOURCE_ROOTS) await scanDir(root, byDir, { files: 400_000 });
  const groups = [...byDir.values()];
  for (let i = groups.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [groups[i], groups[j]] = [groups[j] as SourceFile[], groups[i] as SourceFile[]];
  }
  return groups;
}

interface PathSpec {
  name: string;
  files: string;
  refs: number[];
}

function sanitiseName(s: string): string {
  return (
    s
      .replace(/[^A-Za-z0-9+._?=-]/g, "-")
      .replace(/^[.-]+/, "")
      .slice(0, 60) || "files"
  );
}

function planCorpus(groups: SourceFile[][], opts: CorpusOptions, random: () => number): PathSpec[] {
  const targets =
    opts.shape === "closure"
      ? closureSizes(opts.paths, random)
      : targetSizes(opts.totalBytes, opts.paths, SIZE_SPREAD, random);
  const stream = groups.flat();
  let next = 0;
  const specs: PathSpec[] = [];
  for (const [i, target] of targets.entries()) {
    const chosen: SourceFile[] = [];
    let size = 0;
    // NAR framing adds a little per file; stop at the target, skip files that would overshoot by half.
    while (next < stream.length && size < target) {
      const f = stream[next++] as SourceFile;
      if (size + f.size > target * 1.5 + 4096) continue;
      chosen.push(f);
      size += f.size;
    }
    if (chosen.length === 0) break;
    const first = chosen[0] as SourceFile;
    const dirName = first.path.split("/").slice(-2, -1)[0] ?? "files";
    const refs: number[] = [];
    const nRefs = i === 0 ? 0 : Math.floor(random() * 4);
    for (let r = 0; r < nRefs; r++) {
      const j = Math.floor(random() * i);
      if (!refs.includes(j)) refs.push(j);
    }
    specs.push({
      name: `garret-bench-${opts.shape === "closure" ? "c" : ""}${i}-${sanitiseName(dirName)}`,
      files: chosen.map((f) => f.path).join("\n"),
      refs,
    });
  }
  if (specs.length < opts.paths) {
    process.stderr.write(
      `bench: only ${specs.length} of ${opts.paths} corpus paths could be filled from this machine's files\n`,
    );
  }
  return specs;
}

function planBigSource(groups: SourceFile[][], bigBytes: number): string {
  const files: string[] = [];
  let size = 0;
  for (const f of groups.flat()) {
    if (f.size === 0) continue;
    files.push(f.path);
    size += f.size;
    if (size >= bigBytes * 1.05) return files.join("\n");
  }
  throw new Error(
    `this machine has only ${size} bytes of readable files under ${SOURCE_ROOTS.join(", ")}; need ${bigBytes}`,
  );
}

function octal(n: number): string {
  return `\\${n.toString(8).padStart(3, "0")}`;
}

const EXPRESSION = `# Generated by bench/corpus.ts.
let
  spec = builtins.fromJSON (builtins.readFile ./corpus.json);
  system = builtins.currentSystem;
  mk = name: script: extra: derivation ({
    inherit name system;
    builder = "/bin/sh";
    args = [ "-e" "-c" script ];
    PATH = "/usr/bin:/bin";
  } // extra);
  paths = builtins.genList (i:
    let p = builtins.elemAt spec.paths i; in
    mk p.name ''
      mkdir -p $out/nix-support
      xargs -d '\\n' cp --parents --no-dereference -t "$out" < "$filesPath"
      for r in $refs; do echo "$r" >> $out/nix-support/references; done
    '' {
      files = p.files;
      passAsFile = [ "files" ];
      refs = map (j: builtins.elemAt paths j) p.refs;
    }) (builtins.length spec.paths);
  bigs = map (b:
    mk b.name ''
      mkdir -p $out
      xargs -d '\\n' cat < "$filesPath" | head -c "$SIZE" | tr '\\000-\\377' "$ROTATED" > $out/data.bin
      [ "$(stat -c %s $out/data.bin)" -eq "$SIZE" ]
    '' {
      files = spec.bigFiles;
      passAsFile = [ "files" ];
      SIZE = toString spec.bigBytes;
      ROTATED = b.rotated;
    }) spec.bigs;
in paths ++ bigs
`;

/** Plans, writes and builds the corpus; returns path info in build order. */
export async function buildCorpus(opts: CorpusOptions, log: (msg: string) => void): Promise<Corpus> {
  const random = prng(0x6a77e7);
  log("scanning this machine's files");
  const groups = await sourceFiles(random);
  const specs = planCorpus(groups, opts, random);
  const bigs = Array.from({ length: opts.bigCount }, (_, i) => {
    const k = i + 1;
    return {
      name: `garret-bench-big-${opts.bigBytes}-${k}`,
      rotated: `${octal(k)}-\\377\\000-${octal(k - 1)}`,
    };
  });
  const manifest = {
    paths: specs,
    bigFiles: planBigSource(groups, opts.bigBytes),
    bigBytes: opts.bigBytes,
    bigs,
  };
  await writeFile(join(opts.workDir, "corpus.json"), JSON.stringify(manifest));
  await writeFile(join(opts.workDir, "corpus.nix"), EXPRESSION);
  log(`building ${specs.length} corpus paths and ${bigs.length} large paths with nix-build`);
  const out = (await nix("nix-build", [join(opts.workDir, "corpus.nix"), "--no-out-link"]))
    .split("\n")
    .filter((l) => l.length > 0);
  if (out.length !== specs.length + bigs.length) {
    throw new Error(`nix-build printed ${out.length} paths, expected ${specs.length + bigs.length}`);
  }
  const infos = await pathInfo(out);
  const byPath = new Map(infos.map((p) => [p.path, p]));
  const ordered = out.map((p) => {
    const info = byPath.get(p);
    if (!info) throw new Error(`no path info for ${p}`);
    return info;
  });
  const paths = ordered.slice(0, specs.length);
  return { paths, bigs: ordered.slice(specs.length), narBytes: paths.reduce((a, p) => a + p.narSize, 0) };
}
