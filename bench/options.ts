/**
 * Command-line options of `npm run bench` (each also settable through a GARRET_BENCH_* variable):
 *
 *   npm run bench -- --quick
 *   npm run bench -- --corpus-mib 512 --paths 250 --configs embedded,postgres --reps 5
 *   GARRET_BENCH_CONFIGS=embedded GARRET_BENCH_QUICK=1 npm run bench
 */
import { parseArgs } from "node:util";

export const CONFIG_NAMES = ["embedded", "postgres", "s3"] as const;
export type ConfigName = (typeof CONFIG_NAMES)[number];

export const CORPUS_SHAPES = ["closure", "mixed"] as const;

export interface BenchOptions {
  quick: boolean;
  /** Corpora measured, each with every row: `closure` (system-closure sizes) and `mixed`. */
  corpora: Array<(typeof CORPUS_SHAPES)[number]>;
  /** Number of store paths in the closure-shaped corpus. */
  closurePaths: number;
  /** Total NAR size of the corpus, MiB. */
  corpusMiB: number;
  /** Number of store paths in the corpus. */
  paths: number;
  /** Size of each large single path used by the upload rows (c), (d), (e), MiB. */
  bigMiB: number;
  configs: ConfigName[];
  /** Repetitions of every measured read row (medians are reported). */
  reps: number;
  /** Repetitions of the single big upload (c), each a different big path. */
  bigReps: number;
  /** Length of the windows in which four big uploads run for rows (d) and (e), seconds. */
  loadSeconds: number;
  /** NAR MiB of the corpus subset the S3 configuration serves (s3rver is slow). */
  s3CorpusMiB: number;
  /** Parallel attic uploads when pushing the corpus. */
  uploadParallelism: number;
  /** Repetitions of the write rows (fresh attic push, nix copy --to), each on fresh instances. */
  ingestReps: number;
  /** Only the write rows (and their profiles): no read, big-upload or load rows. */
  ingestOnly: boolean;
  /** Hashes sent in one get-missing-paths request. */
  missingPathsHashes: number;
  /** Take CPU profiles of garretd during the narinfo and download runs (embedded configuration). */
  profile: boolean;
  /** Push the corpus, then only the two load windows (no nginx, read rows, big upload or profiles). */
  onlyLoad: boolean;
  /** Where the JSON result goes. */
  resultsDir: string;
  /** Loopback port for Postgres. */
  postgresUrl: string;
  help: boolean;
}

export const USAGE = `usage: npm run bench -- [options]

  --quick                 small corpora (closure: 150 paths; mixed: ~100 MiB, 150 paths), 128 MiB large paths
  --corpora a,b           closure (sizes of a NixOS system closure: median tens of KiB, a few
                          tens of MiB) and/or mixed (log-uniform, median ~1 MiB); default both
  --closure-paths N       store paths in the closure corpus (default 400; 150 with --quick)
  --corpus-mib N          corpus NAR size in MiB (default 1024)
  --paths N               store paths in the corpus (default 300)
  --big-mib N             size of each large upload path in MiB (default 1024)
  --configs a,b           any of embedded,postgres,s3 (default embedded,postgres,s3)
  --reps N                repetitions of the read measurements, medians reported (default 3)
  --big-reps N            repetitions of the single big upload (default 1; 3 with --quick)
  --load-seconds N        window for the 4-concurrent-upload rows; uploads still running are
                          cut off at its end (default 60; 20 with --quick)
  --s3-corpus-mib N       corpus subset served in the s3 configuration (default 64; 32 with --quick)
  --upload-parallelism N  parallel attic uploads for the corpus pushes (default 5, as attic push -j 5)
  --ingest-reps N         repetitions of the write rows, fresh instances each (default 2)
  --ingest-only           only the write rows and their profiles (garretd under --cpu-prof)
  --missing-hashes N      hashes in the get-missing-paths request (default 10000)
  --no-profile            skip the garretd CPU profiles
  --only-load             push the corpus, then only the two load windows (narinfo latency under
                          4 big uploads; peak RSS under 4 big uploads + 16 downloads): no nginx,
                          read rows, single big upload or profiles
  --results-dir DIR       where the JSON goes (default bench/results)
  --postgres-url URL      server for the postgres configuration (default postgres://postgres@127.0.0.1:5432/postgres)

Every option also reads GARRET_BENCH_<NAME> (e.g. GARRET_BENCH_QUICK=1, GARRET_BENCH_CONFIGS=embedded).`;

function envName(flag: string): string {
  return `GARRET_BENCH_${flag.replace(/-/g, "_").toUpperCase()}`;
}

function positiveInt(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0)
    throw new Error(`--${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return n;
}

export function parseBenchOptions(argv: readonly string[], env: NodeJS.ProcessEnv): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: "boolean" },
      "corpus-mib": { type: "string" },
      corpora: { type: "string" },
      "closure-paths": { type: "string" },
      paths: { type: "string" },
      "big-mib": { type: "string" },
      configs: { type: "string" },
      reps: { type: "string" },
      "big-reps": { type: "string" },
      "load-seconds": { type: "string" },
      "s3-corpus-mib": { type: "string" },
      "upload-parallelism": { type: "string" },
      "ingest-reps": { type: "string" },
      "ingest-only": { type: "boolean" },
      "missing-hashes": { type: "string" },
      "no-profile": { type: "boolean" },
      "only-load": { type: "boolean" },
      "results-dir": { type: "string" },
      "postgres-url": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: false,
  });
  const str = (flag: keyof typeof values): string | undefined => {
    const v = values[flag];
    if (typeof v === "string") return v;
    return env[envName(flag)];
  };
  const bool = (flag: keyof typeof values): boolean => {
    const v = values[flag];
    if (typeof v === "boolean") return v;
    const e = env[envName(flag)];
    return e !== undefined && e !== "" && e !== "0" && e !== "false";
  };
  const quick = bool("quick");
  const int = (flag: keyof typeof values, quickDefault: number, fullDefault: number): number => {
    const raw = str(flag);
    return raw === undefined ? (quick ? quickDefault : fullDefault) : positiveInt(flag, raw);
  };
  const configsRaw = str("configs") ?? CONFIG_NAMES.join(",");
  const configs = configsRaw
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  for (const c of configs) {
    if (!(CONFIG_NAMES as readonly string[]).includes(c)) {
      throw new Error(
        `--configs: unknown configuration ${JSON.stringify(c)} (known: ${CONFIG_NAMES.join(", ")})`,
      );
    }
  }
  if (configs.length === 0) throw new Error("--configs: name at least one configuration");
  const corpora = (str("corpora") ?? CORPUS_SHAPES.join(","))
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  for (const c of corpora) {
    if (!(CORPUS_SHAPES as readonly string[]).includes(c)) {
      throw new Error(`--corpora: unknown corpus ${JSON.stringify(c)} (known: ${CORPUS_SHAPES.join(", ")})`);
    }
  }
  if (corpora.length === 0) throw new Error("--corpora: name at least one corpus");
  return {
    quick,
    corpora: [...new Set(corpora)] as BenchOptions["corpora"],
    closurePaths: int("closure-paths", 150, 400),
    corpusMiB: int("corpus-mib", 100, 1024),
    paths: int("paths", 150, 300),
    bigMiB: int("big-mib", 128, 1024),
    configs: [...new Set(configs)] as ConfigName[],
    reps: int("reps", 3, 3),
    bigReps: int("big-reps", 3, 1),
    loadSeconds: int("load-seconds", 20, 60),
    s3CorpusMiB: int("s3-corpus-mib", 32, 64),
    uploadParallelism: int("upload-parallelism", 5, 5),
    ingestReps: int("ingest-reps", 2, 2),
    ingestOnly: bool("ingest-only"),
    missingPathsHashes: int("missing-hashes", 10_000, 10_000),
    profile: !bool("no-profile") && !bool("only-load"),
    onlyLoad: bool("only-load"),
    resultsDir: str("results-dir") ?? new URL("./results/", import.meta.url).pathname,
    postgresUrl: str("postgres-url") ?? "postgres://postgres@127.0.0.1:5432/postgres",
    help: bool("help"),
  };
}
