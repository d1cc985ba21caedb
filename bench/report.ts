/**
 * The benchmark's result model and its rendering: one table per configuration with garret's
 * figure, the baseline's (nginx over `nix copy --to file://`, or `sha256sum` + `zstd -8 -T1`), the
 * ratio and the target (issue 17's where it sets one, else issue 8's), all from medians of
 * interleaved repetitions.
 */
import type { ProfileSummary } from "./profile-summary.ts";
import type { PeakRss } from "./rss.ts";
import { median } from "./stats.ts";

export interface DownloadSamples {
  /** MiB/s of bytes on the wire (compressed, as served). */
  wireMiBps: number[];
  /** MiB/s of NAR bytes (uncompressed content delivered). */
  narMiBps: number[];
}

/** Issue 17's write rows (ingest-rows.ts); `ms` and `cpuSeconds` have one sample per repetition. */
export interface IngestResult {
  narBytes: number;
  paths: number;
  parallelism: number;
  cores: number;
  attic: { ms: number[]; cpuSeconds: number[] };
  /** sha256sum and zstd -8 -T1 of all corpus NARs concatenated, each on one core. */
  baseline: { sha256Ms: number[]; zstdMs: number[]; cpuSeconds: number[] };
  nixCopy: { ms: number[]; cpuSeconds: number[] };
  fileCopy: { ms: number[] };
  /** `main` is null when garretd wrote no main-thread profile (it was killed before exiting). */
  profiles?: Partial<
    Record<"attic" | "nix", { main: ProfileSummary | null; workers: ProfileSummary | null }>
  >;
}

export interface ConfigResult {
  config: string;
  ingest?: IngestResult;
  /** Absent in an `--ingest-only` run, as are the samples of the read rows. */
  corpusPush?: { paths: number; parallelism: number; narMiB: number; mibPerSecond: number; peakRss: PeakRss };
  /** MsPerLookup: pass time / lookups (cache-shootout's figure); P50Ms: median single lookup of each pass. */
  narinfo: {
    garretMsPerLookup: number[];
    nginxMsPerLookup: number[];
    garretP50Ms: number[];
    nginxP50Ms: number[];
    lookups: number;
  };
  downloads: Array<{ workers: number; garret: DownloadSamples; nginx: DownloadSamples }>;
  missingPaths: { hashes: number; missing: number; ms: number[] };
  bigUpload?: {
    narMiB: number;
    garretMiBps: number[];
    peakRss: PeakRss[];
    sha256MiBps: number[];
    zstdMiBps: number[];
    /** bytes / (t_sha256sum + t_zstd): both jobs one after the other on one core. */
    baselineMiBps: number[];
  };
  /** Row (e). `completed` false: the uploads were still running when the window closed. */
  underLoad?: {
    uploads: number;
    windowMs: number;
    completed: boolean;
    uploadMiBps: number | null;
    idle: { p50: number; p99: number; count: number };
    loaded: { p50: number; p99: number; count: number };
  };
  /** Row (d). */
  rssUnderLoad?: {
    uploads: number;
    downloadWorkers: number;
    windowMs: number;
    completed: boolean;
    peakRss: PeakRss;
    uploadMiBps: number | null;
    downloadMiBps: number;
  };
  profile?: { narinfo?: ProfileSummary; download?: ProfileSummary };
}

export interface BenchResult {
  startedAt: string;
  finishedAt: string;
  machine: {
    cpus: number;
    cpuModel: string;
    memGiB: number;
    kernel: string;
    node: string;
    nix: string;
    nginx: string;
  };
  options: Record<string, unknown>;
  corpora: CorpusResult[];
}

/** Every configuration measured against one corpus. */
export interface CorpusResult {
  shape: string;
  corpus: {
    paths: number;
    narMiB: number;
    medianNarKiB: number;
    nginxWireMiB: number;
    bigs: number;
    bigMiB: number;
    buildSeconds: number;
  };
  configs: ConfigResult[];
  failures: Array<{ config: string; error: string }>;
}

function fmt(n: number, digits = 2): string {
  if (!Number.isFinite(n)) return "n/a";
  if (Math.abs(n) >= 1000) return n.toFixed(0);
  if (Math.abs(n) >= 100) return n.toFixed(1);
  return n.toFixed(digits);
}

interface Row {
  measure: string;
  garret: string;
  baseline: string;
  ratio: string;
  target: string;
  verdict: string;
}

function verdict(ok: boolean | undefined): string {
  return ok === undefined ? "" : ok ? "ok" : "MISS";
}

function window(w: { windowMs: number; completed: boolean }): string {
  return `${fmt(w.windowMs / 1000, 0)} s${w.completed ? "" : ", cut off"}`;
}

export function ingestRows(i: IngestResult): Row[] {
  const mib = i.narBytes / (1024 * 1024);
  const atticMiBps = mib / (median(i.attic.ms) / 1000);
  const baselineWall = median(i.baseline.sha256Ms.map((s, k) => s + (i.baseline.zstdMs[k] ?? 0))) / 1000;
  const baselineMiBps = mib / (baselineWall / i.cores);
  const baselineCpu = median(i.baseline.cpuSeconds);
  const atticCpu = median(i.attic.cpuSeconds);
  const nixMiBps = mib / (median(i.nixCopy.ms) / 1000);
  const fileMiBps = mib / (median(i.fileCopy.ms) / 1000);
  return [
    {
      measure: `fresh attic push, ${i.paths} paths, ${i.parallelism} parallel (NAR MiB/s; garretd CPU-s) vs sha256sum+zstd -8 -T1 on ${i.cores} cores (MiB/s; CPU-s)`,
      garret: `${fmt(atticMiBps, 1)}; ${fmt(atticCpu, 1)}`,
      baseline: `${fmt(baselineMiBps, 1)}; ${fmt(baselineCpu, 1)}`,
      ratio: `${fmt(atticMiBps / baselineMiBps)}x`,
      target: ">= 0.6x",
      verdict: verdict(atticMiBps / baselineMiBps >= 0.6),
    },
    {
      measure: "  same push, CPU: baseline CPU-s / garretd CPU-s (what a loaded machine cannot blur)",
      garret: fmt(atticCpu, 1),
      baseline: fmt(baselineCpu, 1),
      ratio: `${fmt(baselineCpu / atticCpu)}x`,
      target: "",
      verdict: "",
    },
    {
      measure:
        "nix copy --to http://garret?compression=zstd vs --to file://?compression=zstd (NAR MiB/s; garretd CPU-s)",
      garret: `${fmt(nixMiBps, 1)}; ${fmt(median(i.nixCopy.cpuSeconds), 1)}`,
      baseline: fmt(fileMiBps, 1),
      ratio: `${fmt(nixMiBps / fileMiBps)}x`,
      target: ">= 0.5x",
      verdict: verdict(nixMiBps / fileMiBps >= 0.5),
    },
  ];
}

export function configRows(r: ConfigResult): Row[] {
  const rows: Row[] = r.ingest ? ingestRows(r.ingest) : [];
  const gN = median(r.narinfo.garretMsPerLookup);
  const nN = median(r.narinfo.nginxMsPerLookup);
  // --only-load runs measure no read row (and no get-missing-paths).
  const readRows = r.narinfo.garretMsPerLookup.length > 0;
  if (readRows)
    rows.push({
      measure: `narinfo, ${r.narinfo.lookups} sequential GETs, 1 conn (ms/lookup; p50)`,
      garret: `${fmt(gN, 3)}; ${fmt(median(r.narinfo.garretP50Ms), 3)}`,
      baseline: `${fmt(nN, 3)}; ${fmt(median(r.narinfo.nginxP50Ms), 3)}`,
      ratio: `${fmt(gN / nN)}x time`,
      target: "<= 1.15x",
      verdict: verdict(gN / nN <= 1.15),
    });
  for (const d of readRows ? r.downloads : []) {
    const gNar = median(d.garret.narMiBps);
    const nNar = median(d.nginx.narMiBps);
    const target = d.workers === 1 ? 0.6 : d.workers === 4 || d.workers === 16 ? 0.8 : undefined;
    rows.push({
      measure: `NAR download, ${d.workers} conn (NAR MiB/s; wire MiB/s)`,
      garret: `${fmt(gNar, 1)}; ${fmt(median(d.garret.wireMiBps), 1)}`,
      baseline: `${fmt(nNar, 1)}; ${fmt(median(d.nginx.wireMiBps), 1)}`,
      ratio: `${fmt(gNar / nNar)}x`,
      target: target === undefined ? "" : `>= ${target}x`,
      verdict: verdict(target === undefined ? undefined : gNar / nNar >= target),
    });
  }
  if (r.bigUpload) {
    const g = median(r.bigUpload.garretMiBps);
    const b = median(r.bigUpload.baselineMiBps);
    rows.push({
      measure: `upload, one ${fmt(r.bigUpload.narMiB, 0)} MiB NAR (MiB/s) vs sha256sum+zstd -8 -T1`,
      garret: fmt(g, 1),
      baseline: `${fmt(b, 1)} (sha ${fmt(median(r.bigUpload.sha256MiBps), 0)}, zstd ${fmt(median(r.bigUpload.zstdMiBps), 1)})`,
      ratio: `${fmt(g / b)}x`,
      target: ">= 1.0x",
      verdict: verdict(g / b >= 1),
    });
    rows.push({
      measure: "peak RSS during that upload (MiB, process; tree)",
      garret: `${fmt(Math.max(...r.bigUpload.peakRss.map((p) => p.mainMiB)), 0)}; ${fmt(Math.max(...r.bigUpload.peakRss.map((p) => p.treeMiB)), 0)}`,
      baseline: "",
      ratio: "",
      target: "",
      verdict: "",
    });
  }
  if (r.rssUnderLoad) {
    const p = r.rssUnderLoad.peakRss;
    rows.push({
      measure: `peak RSS, ${r.rssUnderLoad.uploads} concurrent big uploads + ${r.rssUnderLoad.downloadWorkers} downloads, ${window(r.rssUnderLoad)} (MiB, process; tree)`,
      garret: `${fmt(p.mainMiB, 0)}; ${fmt(p.treeMiB, 0)}`,
      baseline: "",
      ratio: "",
      target: "<= 250 MB",
      verdict: verdict(p.treeMiB * 1.048576 <= 250),
    });
  }
  if (r.underLoad) {
    const u = r.underLoad;
    rows.push({
      measure: `narinfo latency p50 / p99 under ${u.uploads} big uploads, ${window(u)} (ms)`,
      garret: `${fmt(u.loaded.p50, 2)} / ${fmt(u.loaded.p99, 2)}`,
      baseline: `idle ${fmt(u.idle.p50, 2)} / ${fmt(u.idle.p99, 2)}`,
      ratio: "",
      target: "p99 <= 10 ms",
      verdict: verdict(u.loaded.p99 <= 10),
    });
  }
  const mp = median(r.missingPaths.ms);
  if (r.missingPaths.ms.length > 0)
    rows.push({
      measure: `get-missing-paths, ${r.missingPaths.hashes} hashes (ms)`,
      garret: fmt(mp, 1),
      baseline: "",
      ratio: "",
      target: "< 100 ms",
      verdict: verdict(mp < 100),
    });
  if (r.corpusPush)
    rows.push({
      measure: `corpus push, ${r.corpusPush.paths} paths, ${r.corpusPush.parallelism} parallel uploads (MiB/s; peak RSS MiB, process; tree)`,
      garret: `${fmt(r.corpusPush.mibPerSecond, 1)}; ${fmt(r.corpusPush.peakRss.mainMiB, 0)}; ${fmt(r.corpusPush.peakRss.treeMiB, 0)}`,
      baseline: "",
      ratio: "",
      target: "",
      verdict: "",
    });
  return rows;
}

export function renderTable(rows: readonly Row[], title: string): string {
  const header: Row = {
    measure: "measure",
    garret: "garret",
    baseline: "nginx / baseline",
    ratio: "ratio",
    target: "target",
    verdict: "",
  };
  const all = [header, ...rows];
  const keys = ["measure", "garret", "baseline", "ratio", "target", "verdict"] as const;
  const widths = keys.map((k) => Math.max(...all.map((r) => r[k].length)));
  const line = (r: Row) => `| ${keys.map((k, i) => r[k].padEnd(widths[i] as number)).join(" | ")} |`;
  const sep = `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`;
  return [`### ${title}`, "", line(header), sep, ...rows.map(line)].join("\n");
}

export function renderProfile(p: ProfileSummary, title: string): string {
  const lines = [
    `#### ${title}: ${fmt(p.busyMs, 0)} ms busy of ${fmt(p.windowMs, 0)} ms`,
    "",
    "top modules (self time):",
  ];
  for (const m of p.topModules.slice(0, 10)) lines.push(`  ${fmt(m.percent, 1).padStart(5)}%  ${m.name}`);
  lines.push("top functions (self time):");
  for (const f of p.topFunctions.slice(0, 15)) lines.push(`  ${fmt(f.percent, 1).padStart(5)}%  ${f.name}`);
  lines.push("builtins by nearest JavaScript caller:");
  for (const f of p.nativeByCaller.slice(0, 8)) lines.push(`  ${fmt(f.percent, 1).padStart(5)}%  ${f.name}`);
  return lines.join("\n");
}

export function renderReport(result: BenchResult): string {
  const out: string[] = [
    `garret benchmark — ${result.startedAt} — ${result.machine.cpus} CPUs (${result.machine.cpuModel}), ${result.machine.nix}, ${result.machine.nginx}`,
    "medians of interleaved repetitions; ratios are garret / baseline measured side by side",
    "",
  ];
  for (const run of result.corpora) {
    const c = run.corpus;
    out.push(
      `## ${run.shape} corpus: ${c.paths} paths, ${fmt(c.narMiB, 0)} MiB of NAR, median NAR ${fmt(c.medianNarKiB, 0)} KiB (${fmt(c.nginxWireMiB, 0)} MiB as nix copy's .nar.zst); ${c.bigs} big paths of ${c.bigMiB} MiB`,
      "",
    );
    for (const r of run.configs) {
      const title = `${run.shape} / ${r.config}`;
      out.push(renderTable(configRows(r), title), "");
      if (r.profile?.narinfo)
        out.push(renderProfile(r.profile.narinfo, `${title}: garretd CPU profile, narinfo passes`), "");
      if (r.profile?.download)
        out.push(renderProfile(r.profile.download, `${title}: garretd CPU profile, NAR downloads`), "");
      for (const how of ["attic", "nix"] as const) {
        const p = r.ingest?.profiles?.[how];
        const what = how === "attic" ? "fresh attic push" : "nix copy --to";
        if (p?.main)
          out.push(renderProfile(p.main, `${title}: garretd CPU profile, ${what}, main thread`), "");
        if (p?.workers)
          out.push(renderProfile(p.workers, `${title}: garretd CPU profile, ${what}, worker threads`), "");
      }
    }
    for (const f of run.failures) out.push(`### ${run.shape} / ${f.config}: FAILED`, "", f.error, "");
  }
  return out.join("\n");
}
