/**
 * The HTML of the status page at `/`: server-rendered, no scripts, every value from the database
 * escaped. It shows the caches the caller may discover, their sizes and dedup ratio, and the
 * latest uploads.
 */
import type { StatusOverview } from "../services/status-overview.ts";

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => ESCAPES[ch] as string);
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${UNITS[unit]}`;
}

const formatRatio = (r: number | null) => (r === null ? "–" : `${r.toFixed(2)}×`);

const STYLE = `
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1d1d1f}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #ddd}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}code{font-size:.9em;word-break:break-all}
.muted{color:#666}`;

export function renderStatusPage(o: StatusOverview): string {
  const who = o.authenticated
    ? "Public caches and the caches your token may see."
    : "Public caches. Send a token in the Authorization header to see private caches you have access to.";
  const cacheRows = o.caches
    .map(
      (c) =>
        `<tr><td><code>${escapeHtml(c.name)}</code></td><td>${c.isPublic ? "public" : "private"}</td>` +
        `<td class="n">${c.objects}</td><td class="n">${formatBytes(c.narBytes)}</td>` +
        `<td class="n">${formatBytes(c.storedBytes)}</td><td class="n">${formatRatio(c.dedupRatio)}</td></tr>`,
    )
    .join("\n");
  const caches =
    o.caches.length === 0
      ? `<p class="muted">No caches to show.</p>`
      : `<table id="caches"><thead><tr><th>Cache</th><th>Visibility</th><th class="n">Paths</th>` +
        `<th class="n">NAR size</th><th class="n">Stored</th><th class="n">Dedup ratio</th></tr></thead>\n<tbody>\n${cacheRows}\n</tbody>` +
        `<tfoot><tr><th>Total</th><th></th><th class="n">${o.totals.objects}</th>` +
        `<th class="n">${formatBytes(o.totals.narBytes)}</th><th class="n">${formatBytes(o.totals.storedBytes)}</th>` +
        `<th class="n">${formatRatio(o.totals.dedupRatio)}</th></tr></tfoot></table>` +
        (o.omitted > 0 ? `<p class="muted">${o.omitted} more caches not shown.</p>` : "");
  const recentRows = o.recent
    .map(
      (r) =>
        `<tr><td>${escapeHtml(r.createdAt.toISOString())}</td><td><code>${escapeHtml(r.cacheName)}</code></td>` +
        `<td><code>${escapeHtml(r.storePath)}</code></td><td class="n">${formatBytes(r.narSize)}</td></tr>`,
    )
    .join("\n");
  const recent =
    o.recent.length === 0
      ? `<p class="muted">Nothing uploaded yet.</p>`
      : `<table id="recent"><thead><tr><th>Uploaded</th><th>Cache</th><th>Store path</th><th class="n">NAR size</th></tr></thead>\n<tbody>\n${recentRows}\n</tbody></table>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>garret</title><style>${STYLE}</style></head>
<body>
<h1>garret</h1>
<p class="muted">A Nix binary cache server, compatible with atticd. ${escapeHtml(who)}</p>
<h2>Caches</h2>
${caches}
<p class="muted">NAR size is what the paths occupy uncompressed; stored is what their chunks take in storage after deduplication and compression. Sizes may be a minute old.</p>
<h2>Latest uploads</h2>
${recent}
<p class="muted">Generated ${escapeHtml(o.generatedAt.toISOString())}.</p>
</body></html>
`;
}
