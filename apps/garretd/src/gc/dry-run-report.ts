/**
 * The human-readable report of `garretd --mode garbage-collector-once --dry-run`:
 *
 *   garbage collection dry run: 2 objects, 2 NARs, 7 chunks, 48213 bytes would be deleted
 *   hello  /nix/store/0c2bl6ypqmqq2a4w6ga6xnd1b8sxy2yd-hello-2.12.1
 *   hello  /nix/store/9krlzvny65gdc8s7kpb6lkx8cd02c25b-libiconv-1.17
 */
import type { GcSummary } from "./run-gc.ts";

export function formatDryRun(summary: GcSummary): string {
  if (!summary.ran) return "garbage collection dry run skipped: another collector holds the lock\n";
  const head =
    `garbage collection dry run: ${summary.objects} objects, ${summary.nars} NARs, ` +
    `${summary.chunks} chunks, ${summary.bytes} bytes would be deleted\n`;
  const paths = summary.paths ?? [];
  const width = Math.max(0, ...paths.map((p) => p.cache.length));
  const lines = paths.map((p) => `${p.cache.padEnd(width)}  ${p.storePath}\n`).join("");
  const more = summary.objects > paths.length ? `(${summary.objects - paths.length} more not listed)\n` : "";
  return head + lines + more;
}
