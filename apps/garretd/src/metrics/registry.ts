/**
 * A minimal Prometheus metrics registry: counters, gauges and histograms with labels, rendered in
 * the text exposition format (version 0.0.4) that every Prometheus-compatible scraper reads:
 *
 *     # HELP garret_http_requests_total HTTP requests served, by route pattern, method and status.
 *     # TYPE garret_http_requests_total counter
 *     garret_http_requests_total{route="/:cache/:file",method="GET",status="200"} 42
 *
 * Hand-written instead of prom-client because garretd needs a dozen series, no default process
 * collectors and no global registry (tests build many apps in one process). Updating a series is a
 * Map lookup on a key built from the label values; label values are escaped only when rendering.
 */

export type Labels = Record<string, string>;

interface Metric {
  readonly name: string;
  render(out: string[]): void;
}

export class MetricsRegistry {
  private readonly metrics: Metric[] = [];
  private readonly names = new Set<string>();

  counter<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return this.add(new Counter<L>(name, help, labelNames));
  }

  gauge<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
    return this.add(new Gauge<L>(name, help, labelNames));
  }

  histogram<L extends string = never>(
    name: string,
    help: string,
    buckets: readonly number[],
    labelNames: readonly L[] = [],
  ): Histogram<L> {
    return this.add(new Histogram<L>(name, help, buckets, labelNames));
  }

  /** The exposition text, ending with a newline. */
  render(): string {
    const out: string[] = [];
    for (const m of this.metrics) m.render(out);
    return `${out.join("\n")}\n`;
  }

  private add<M extends Metric>(metric: M): M {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(metric.name))
      throw new Error(`invalid metric name ${metric.name}`);
    if (this.names.has(metric.name)) throw new Error(`metric ${metric.name} registered twice`);
    this.names.add(metric.name);
    this.metrics.push(metric);
    return metric;
  }
}

/** The content type of `render()`'s output. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

abstract class Labelled<L extends string, S> implements Metric {
  protected readonly series = new Map<string, { labels: string; value: S }>();
  readonly name: string;
  readonly help: string;
  protected readonly labelNames: readonly L[];

  constructor(name: string, help: string, labelNames: readonly L[]) {
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
  }

  protected abstract readonly type: string;
  protected abstract initial(): S;
  protected abstract renderSeries(out: string[], labels: string, value: S): void;

  protected entry(labels: Record<L, string> | undefined): { labels: string; value: S } {
    const key = labels === undefined ? "" : this.labelNames.map((n) => labels[n]).join("\u0000");
    let e = this.series.get(key);
    if (!e) {
      e = {
        labels: labels === undefined ? "" : formatLabels(this.labelNames, labels),
        value: this.initial(),
      };
      this.series.set(key, e);
    }
    return e;
  }

  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`);
    out.push(`# TYPE ${this.name} ${this.type}`);
    // A metric without labels is always shown (at 0) so dashboards see it before the first event.
    if (this.labelNames.length === 0 && this.series.size === 0) this.entry(undefined);
    for (const { labels, value } of this.series.values()) this.renderSeries(out, labels, value);
  }
}

type LabelArg<L extends string> = [L] extends [never] ? [] : [labels: Record<L, string>];

export class Counter<L extends string = never> extends Labelled<L, { v: number }> {
  protected readonly type = "counter";
  protected initial() {
    return { v: 0 };
  }
  inc(...args: [...LabelArg<L>, amount?: number]): void {
    const { labels, amount } = splitArgs<L>(this.labelNames, args);
    if (amount < 0) throw new RangeError("counters only go up");
    this.entry(labels).value.v += amount;
  }
  get(...args: LabelArg<L>): number {
    return this.entry(args[0] as Record<L, string> | undefined).value.v;
  }
  protected renderSeries(out: string[], labels: string, value: { v: number }): void {
    out.push(`${this.name}${labels} ${formatNumber(value.v)}`);
  }
}

export class Gauge<L extends string = never> extends Labelled<L, { v: number }> {
  protected readonly type = "gauge";
  protected initial() {
    return { v: 0 };
  }
  set(...args: [...LabelArg<L>, value: number]): void {
    const { labels, amount } = splitArgs<L>(this.labelNames, args);
    this.entry(labels).value.v = amount;
  }
  inc(...args: [...LabelArg<L>, amount?: number]): void {
    const { labels, amount } = splitArgs<L>(this.labelNames, args);
    this.entry(labels).value.v += amount;
  }
  dec(...args: [...LabelArg<L>, amount?: number]): void {
    const { labels, amount } = splitArgs<L>(this.labelNames, args);
    this.entry(labels).value.v -= amount;
  }
  get(...args: LabelArg<L>): number {
    return this.entry(args[0] as Record<L, string> | undefined).value.v;
  }
  protected renderSeries(out: string[], labels: string, value: { v: number }): void {
    out.push(`${this.name}${labels} ${formatNumber(value.v)}`);
  }
}

interface HistogramValue {
  counts: number[];
  sum: number;
  count: number;
}

export class Histogram<L extends string = never> extends Labelled<L, HistogramValue> {
  protected readonly type = "histogram";
  private readonly bounds: number[];

  constructor(name: string, help: string, buckets: readonly number[], labelNames: readonly L[]) {
    super(name, help, labelNames);
    this.bounds = [...buckets].sort((a, b) => a - b);
  }

  protected initial(): HistogramValue {
    return { counts: this.bounds.map(() => 0), sum: 0, count: 0 };
  }

  observe(...args: [...LabelArg<L>, value: number]): void {
    const { labels, amount } = splitArgs<L>(this.labelNames, args);
    const h = this.entry(labels).value;
    h.sum += amount;
    h.count++;
    // Counts per bucket, not cumulative: cumulating happens once per scrape instead of per event.
    const i = this.bounds.findIndex((b) => amount <= b);
    if (i >= 0) h.counts[i] = (h.counts[i] ?? 0) + 1;
  }

  protected renderSeries(out: string[], labels: string, h: HistogramValue): void {
    const inner = labels === "" ? "" : `${labels.slice(1, -1)},`;
    let cumulative = 0;
    this.bounds.forEach((b, i) => {
      cumulative += h.counts[i] ?? 0;
      out.push(`${this.name}_bucket{${inner}le="${formatNumber(b)}"} ${cumulative}`);
    });
    out.push(`${this.name}_bucket{${inner}le="+Inf"} ${h.count}`);
    out.push(`${this.name}_sum${labels} ${formatNumber(h.sum)}`);
    out.push(`${this.name}_count${labels} ${h.count}`);
  }
}

function splitArgs<L extends string>(
  labelNames: readonly string[],
  args: readonly unknown[],
): { labels: Record<L, string> | undefined; amount: number } {
  if (labelNames.length === 0) return { labels: undefined, amount: (args[0] as number | undefined) ?? 1 };
  return { labels: args[0] as Record<L, string>, amount: (args[1] as number | undefined) ?? 1 };
}

function formatLabels(names: readonly string[], labels: Record<string, string>): string {
  const parts = names.map((n) => `${n}="${escapeLabelValue(labels[n] ?? "")}"`);
  return `{${parts.join(",")}}`;
}

function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function formatNumber(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Number.POSITIVE_INFINITY) return "+Inf";
  if (n === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(n);
}
