/**
 * Push progress. On a terminal: one status line redrawn in place (bytes, paths done/total, rate,
 * deduplication), with finished paths and errors printed above it. Otherwise one plain line per
 * path, as attic prints them:
 *
 *   ✅ /nix/store/3x5…-hello-2.12 (48.20 MiB/s, 37% deduplicated)
 *   ✅ /nix/store/9bc…-glibc-2.37 (deduplicated)
 *   ✅ /nix/store/k2l…-big (41.10 MiB/s, sent 51.2 MiB, skipped 972.8 MiB)     (chunk upload)
 *   ❌ /nix/store/k2l…-big: RequestError: General request error: …
 */
import type { UploadPathResult } from "@garret/protocol";

/** NAR bytes uploaded and skipped (the server had them) by a chunked push. */
export interface Transfer {
  sent: number;
  skipped: number;
}

export interface Sink {
  write(text: string): void;
  isTTY?: boolean;
}

export interface PushReporter {
  begin(paths: number, bytes: number): void;
  /** `processed`: NAR bytes handled so far in this attempt; `transfer` for chunked pushes. */
  progress(path: string, processed: number, transfer?: Transfer): void;
  done(path: string, result: UploadPathResult, narSize: number, elapsedMs: number, transfer?: Transfer): void;
  failed(path: string, message: string): void;
  message(line: string): void;
  end(): void;
}

const MiB = 1024 * 1024;

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < MiB) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * MiB) return `${(n / MiB).toFixed(1)} MiB`;
  return `${(n / 1024 / MiB).toFixed(2)} GiB`;
}

export function formatRate(bytes: number, ms: number): string {
  return `${(bytes / MiB / Math.max(ms / 1000, 0.001)).toFixed(2)} MiB/s`;
}

export function doneLine(
  path: string,
  result: UploadPathResult,
  narSize: number,
  elapsedMs: number,
  transfer?: Transfer,
): string {
  if (result.kind === "Deduplicated") return `✅ ${path} (deduplicated)`;
  if (transfer) {
    return `✅ ${path} (${formatRate(narSize, elapsedMs)}, sent ${formatBytes(transfer.sent)}, skipped ${formatBytes(transfer.skipped)})`;
  }
  const dedup =
    result.frac_deduplicated && result.frac_deduplicated > 0
      ? `, ${Math.round(result.frac_deduplicated * 100)}% deduplicated`
      : "";
  return `✅ ${path} (${formatRate(narSize, elapsedMs)}${dedup})`;
}

class Totals {
  paths = 0;
  bytes = 0;
  donePaths = 0;
  doneBytes = 0;
  dedupBytes = 0;
  failed = 0;
  inFlight = new Map<string, number>();
  /** Chunked pushes: finished totals, and the paths in flight. */
  wire: Transfer = { sent: 0, skipped: 0 };
  wireInFlight = new Map<string, Transfer>();

  wireTotals(): Transfer | null {
    if (this.wire.sent + this.wire.skipped === 0 && this.wireInFlight.size === 0) return null;
    const t = { ...this.wire };
    for (const v of this.wireInFlight.values()) {
      t.sent += v.sent;
      t.skipped += v.skipped;
    }
    return t;
  }

  sent(): number {
    let s = this.doneBytes;
    for (const v of this.inFlight.values()) s += v;
    return s;
  }

  record(path: string, result: UploadPathResult, narSize: number, transfer?: Transfer): void {
    this.inFlight.delete(path);
    this.wireInFlight.delete(path);
    if (transfer) {
      this.wire.sent += transfer.sent;
      this.wire.skipped += transfer.skipped;
    }
    this.donePaths++;
    this.doneBytes += narSize;
    const frac = result.kind === "Deduplicated" ? 1 : (result.frac_deduplicated ?? 0);
    this.dedupBytes += frac * narSize;
  }
}

export class PlainReporter implements PushReporter {
  protected totals = new Totals();
  protected readonly sink: Sink;
  protected readonly now: () => number;

  constructor(sink: Sink, now: () => number = Date.now) {
    this.sink = sink;
    this.now = now;
  }
  begin(paths: number, bytes: number): void {
    this.totals.paths += paths;
    this.totals.bytes += bytes;
  }
  progress(path: string, processed: number, transfer?: Transfer): void {
    this.totals.inFlight.set(path, processed);
    if (transfer) this.totals.wireInFlight.set(path, transfer);
  }
  done(
    path: string,
    result: UploadPathResult,
    narSize: number,
    elapsedMs: number,
    transfer?: Transfer,
  ): void {
    this.totals.record(path, result, narSize, transfer);
    this.line(doneLine(path, result, narSize, elapsedMs, transfer));
  }
  failed(path: string, message: string): void {
    this.totals.inFlight.delete(path);
    this.totals.wireInFlight.delete(path);
    this.totals.failed++;
    this.line(`❌ ${path}: ${message}`);
  }
  message(line: string): void {
    this.line(line);
  }
  end(): void {}
  protected line(text: string): void {
    this.sink.write(`${text}\n`);
  }
}

export class TtyReporter extends PlainReporter {
  private started = 0;
  private lastDraw = 0;
  private drawn = false;

  override begin(paths: number, bytes: number): void {
    if (this.started === 0) this.started = this.now();
    super.begin(paths, bytes);
    this.draw(true);
  }
  override progress(path: string, processed: number, transfer?: Transfer): void {
    super.progress(path, processed, transfer);
    this.draw(false);
  }
  override end(): void {
    this.draw(true);
    if (this.drawn) this.sink.write("\n");
    this.drawn = false;
  }
  protected override line(text: string): void {
    this.sink.write(`${this.drawn ? "\r\x1b[K" : ""}${text}\n`);
    this.drawn = false;
    this.draw(true);
  }

  statusLine(): string {
    const t = this.totals;
    const sent = t.sent();
    const elapsed = this.now() - this.started;
    const dedup = t.doneBytes > 0 ? `, ${Math.round((t.dedupBytes / t.doneBytes) * 100)}% deduplicated` : "";
    const failed = t.failed > 0 ? `, ${t.failed} failed` : "";
    const w = t.wireTotals();
    const wire = w ? `, sent ${formatBytes(w.sent)}, skipped ${formatBytes(w.skipped)}` : "";
    return `⏳ ${t.donePaths}/${t.paths} paths, ${formatBytes(sent)} / ${formatBytes(t.bytes)}, ${formatRate(sent, elapsed)}${dedup}${wire}${failed}`;
  }

  private draw(force: boolean): void {
    const now = this.now();
    if (!force && now - this.lastDraw < 100) return;
    if (this.totals.paths === 0) return;
    this.lastDraw = now;
    this.sink.write(`\r\x1b[K${this.statusLine()}`);
    this.drawn = true;
  }
}

export function createReporter(sink: Sink, now: () => number = Date.now): PushReporter {
  return sink.isTTY ? new TtyReporter(sink, now) : new PlainReporter(sink, now);
}
