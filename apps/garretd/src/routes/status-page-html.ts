/**
 * The HTML of the status page at `/`: server-rendered, every value from the database escaped. It
 * shows the caches the caller may discover with what Nix needs to use each (substituter URL, public
 * key, ready-to-paste nix.conf lines), their sizes, deduplication and compression apart, and the
 * latest uploads, with times relative to now.
 *
 * Private caches need a token, and a browser sends none by itself: the page's one script keeps a
 * token pasted into the sign-in field in the tab's sessionStorage and fetches the same page again
 * with it in `Authorization`, swapping in the new `<main>`. No cookie is ever set, so another site
 * cannot make the browser act with the token (no CSRF); the content security policy allows only
 * this script (by hash) and requests to this origin.
 */
import { createHash } from "node:crypto";
import type { CacheOverview, Sizes, StatusOverview } from "../services/status-overview.ts";

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

/** "just now", "5 minutes ago", "3 hours ago", "2 days ago", then the date. */
export function formatAge(then: Date, now: Date): string {
  const seconds = Math.max(0, Math.round((now.getTime() - then.getTime()) / 1000));
  const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? "" : "s"} ago`;
  if (seconds < 45) return "just now";
  if (seconds < 3600) return plural(Math.max(1, Math.round(seconds / 60)), "minute");
  if (seconds < 86_400) return plural(Math.round(seconds / 3600), "hour");
  if (seconds < 30 * 86_400) return plural(Math.round(seconds / 86_400), "day");
  return then.toISOString().slice(0, 10);
}

function time(then: Date, now: Date): string {
  const iso = escapeHtml(then.toISOString());
  return `<time datetime="${iso}" title="${iso}">${escapeHtml(formatAge(then, now))}</time>`;
}

const SCRIPT = `(() => {
  const KEY = "garret-token";
  const form = document.getElementById("sign-in");
  const signedIn = document.getElementById("signed-in");
  async function refresh() {
    const token = sessionStorage.getItem(KEY);
    form.hidden = token !== null;
    signedIn.hidden = token === null;
    if (token === null) return;
    const res = await fetch(location.pathname, {
      headers: { authorization: "Bearer " + token },
      cache: "no-store",
      credentials: "omit",
    });
    const page = new DOMParser().parseFromString(await res.text(), "text/html");
    const main = page.getElementById("status");
    if (main) document.getElementById("status").replaceWith(main);
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const field = document.getElementById("token");
    const token = field.value.trim();
    field.value = "";
    if (token) sessionStorage.setItem(KEY, token);
    refresh();
  });
  document.getElementById("sign-out").addEventListener("click", () => {
    sessionStorage.removeItem(KEY);
    location.reload();
  });
  refresh();
})();`;

export const STATUS_PAGE_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; " +
  `script-src 'sha256-${createHash("sha256").update(SCRIPT).digest("base64")}'; ` +
  "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

const STYLE = `
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1d1d1f}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem}h3{font-size:1rem;margin:1.2rem 0 .3rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #ddd}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}code{font-size:.9em;word-break:break-all}
pre{background:#f4f4f6;padding:.6rem .8rem;overflow-x:auto;font-size:.85em}
header{display:flex;justify-content:space-between;align-items:baseline;gap:1rem;flex-wrap:wrap}
form,#signed-in{display:flex;gap:.4rem;align-items:center}input{width:22rem;max-width:60vw}
.muted{color:#666}.warn{color:#a40000}[hidden]{display:none!important}`;

function cacheRow(c: CacheOverview): string {
  return (
    `<tr><td><a href="#cache-${escapeHtml(c.name)}"><code>${escapeHtml(c.name)}</code></a></td>` +
    `<td>${c.isPublic ? "public" : "private"}</td>${sizeCells(c, "td")}</tr>`
  );
}

function sizeCells(s: Sizes, cell: "td" | "th"): string {
  return [
    String(s.objects),
    formatBytes(s.narBytes),
    formatBytes(s.uniqueBytes),
    formatBytes(s.storedBytes),
    formatRatio(s.dedupRatio),
    formatRatio(s.compressionRatio),
  ]
    .map((v) => `<${cell} class="n">${v}</${cell}>`)
    .join("");
}

function usage(c: CacheOverview): string {
  const lines = [`extra-substituters = ${c.substituter}`];
  if (c.publicKey) lines.push(`extra-trusted-public-keys = ${c.publicKey}`);
  let host = "HOST";
  try {
    host = new URL(c.substituter).hostname;
  } catch {}
  const privateNote = c.isPublic
    ? ""
    : `<p class="muted">Private: Nix needs a token that may pull from it in its netrc file ` +
      `(<code>netrc-file</code> in nix.conf): <code>machine ${escapeHtml(host)} password TOKEN</code>.</p>`;
  return (
    `<section class="cache" id="cache-${escapeHtml(c.name)}"><h3><code>${escapeHtml(c.name)}</code></h3>` +
    `<p>Substituter: <code class="substituter">${escapeHtml(c.substituter)}</code><br>` +
    `Public key: <code class="public-key">${c.publicKey ? escapeHtml(c.publicKey) : "–"}</code></p>` +
    `<p class="muted">For nix.conf (<code>~/.config/nix/nix.conf</code>, or <code>/etc/nix/nix.conf</code> for the daemon):</p>` +
    `<pre class="nix-conf">${escapeHtml(lines.join("\n"))}</pre>${privateNote}</section>`
  );
}

function who(o: StatusOverview): string {
  if (o.expiredTokenAt !== undefined) {
    return (
      `<p class="warn" id="who">The token expired at ${escapeHtml(new Date(o.expiredTokenAt * 1000).toISOString())}: ` +
      "only public caches are shown. Sign out and sign in with a new token.</p>"
    );
  }
  return o.authenticated
    ? `<p class="muted" id="who">Public caches and the caches your token may see.</p>`
    : `<p class="muted" id="who">Public caches. Sign in with a token to see the private caches it may read.</p>`;
}

export function renderStatusPage(o: StatusOverview): string {
  const now = o.generatedAt;
  const caches =
    o.caches.length === 0
      ? `<p class="muted">No caches to show.</p>`
      : `<table id="caches"><thead><tr><th>Cache</th><th>Visibility</th><th class="n">Paths</th>` +
        `<th class="n">NAR size</th><th class="n">After dedup</th><th class="n">Stored</th>` +
        `<th class="n">Dedup</th><th class="n">Compression</th></tr></thead>\n<tbody>\n` +
        `${o.caches.map(cacheRow).join("\n")}\n</tbody>` +
        `<tfoot><tr><th>Total</th><th></th>${sizeCells(o.totals, "th")}</tr></tfoot></table>` +
        (o.omitted > 0 ? `<p class="muted">${o.omitted} more caches not shown.</p>` : "");
  const recentRows = o.recent
    .map(
      (r) =>
        `<tr><td>${time(r.createdAt, now)}</td><td><code>${escapeHtml(r.cacheName)}</code></td>` +
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
<header><h1>garret</h1>
<form id="sign-in"><input id="token" type="password" autocomplete="off" placeholder="Paste a token to see private caches" aria-label="Token"><button type="submit">Sign in</button></form>
<p id="signed-in" hidden>Signed in for this tab only (the token stays in this tab). <button type="button" id="sign-out">Sign out</button></p>
</header>
<main id="status">
<p class="muted">A Nix binary cache server, compatible with atticd.</p>
${who(o)}
<h2>Caches</h2>
${caches}
<p class="muted">NAR size is what the paths occupy uncompressed; after dedup, what their distinct chunks hold; stored, what those chunks take in storage after compression. Dedup = NAR size / after dedup; compression = after dedup / stored. The Total row counts a chunk shared by several caches once. Sizes may be a minute old.</p>
${o.caches.length === 0 ? "" : `<h2>Using a cache</h2>\n${o.caches.map(usage).join("\n")}`}
<h2>Latest uploads</h2>
${recent}
<p class="muted">Generated ${time(now, now)} (${escapeHtml(now.toISOString())}).</p>
</main>
<script>${SCRIPT}</script>
</body></html>
`;
}
