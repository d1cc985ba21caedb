/**
 * The status page at `/` rendered by a real browser: Debian's headless Chromium driven by
 * playwright-core (installed by .ci/run). garretd runs as a process, a public and a private cache
 * get a path each, and the page is checked as a visitor sees it (rendered text, not markup), once
 * anonymously and once signed in with a pasted token (kept in sessionStorage, sent in
 * `Authorization` by the page's script). Screenshots go to /tmp and are checked to be non-empty.
 */
import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type GarretdHandle, startGarretd } from "../support/garretd.ts";
import { lcgBytes, makeNar } from "../support/nar.ts";
import { httpRequester, type PushedPath, pushNar } from "../support/push-nar.ts";

const CHROMIUM = "/usr/bin/chromium";
const SCREENSHOT = "/tmp/garret-status-page.png";

let server: GarretdHandle;
let browser: Browser;
let publicPath: PushedPath;
let privatePath: PushedPath;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: apt-get install -y --no-install-recommends chromium (.ci/run does)`,
    );
  }
  server = await startGarretd();
  const root = httpRequester(server.url, server.rootToken);
  for (const [name, isPublic] of [
    ["nixpkgs-mirror", true],
    ["team-private", false],
  ] as const) {
    const res = await root(`/_api/v1/cache-config/${name}`, {
      method: "POST",
      body: JSON.stringify({
        keypair: "Generate",
        is_public: isPublic,
        store_dir: "/nix/store",
        priority: 41,
        upstream_cache_key_names: [],
      }),
    });
    expect(res.status).toBe(200);
  }
  const contents = Buffer.concat(Array.from({ length: 8 }, () => lcgBytes(30_000, 5)));
  publicPath = await pushNar(root, "nixpkgs-mirror", {
    nar: makeNar({ type: "regular", contents }),
    name: "hello-2.12.1",
  });
  privatePath = await pushNar(root, "team-private", { name: "internal-tool-0.3" });
  // The same NAR in the private cache too: its chunks are stored once, shared by both caches.
  const shared = await pushNar(root, "team-private", {
    nar: makeNar({ type: "regular", contents }),
    name: "hello-2.12.1",
  });
  expect([publicPath.status, privatePath.status, shared.status]).toEqual([200, 200, 200]);

  // Playwright gives every launch a fresh temporary --user-data-dir (and refuses one in args).
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

function parseSize(text: string): number {
  const m = /^([\d.]+) (B|KiB|MiB)$/.exec(text.trim());
  if (!m) throw new Error(`not a size: ${text}`);
  return Number(m[1]) * { B: 1, KiB: 1024, MiB: 1024 ** 2 }[m[2] as "B" | "KiB" | "MiB"];
}

async function publicKeyOf(cache: string): Promise<string> {
  const res = await httpRequester(server.url, server.rootToken)(`/_api/v1/cache-config/${cache}`, {});
  return ((await res.json()) as { public_key: string }).public_key;
}

describe("status page in headless Chromium", () => {
  it("shows visitors the public caches with sizes, dedup and compression apart, nix.conf lines and human times", async () => {
    const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
    const response = await page.goto(`${server.url}/`);
    expect(response?.status()).toBe(200);
    expect(await page.title()).toBe("garret");
    await expect(page.locator("h1").innerText()).resolves.toBe("garret");

    const rows = await page.locator("#caches tbody tr").allInnerTexts();
    expect(rows).toHaveLength(1);
    const cells = (await page.locator("#caches tbody tr td").allInnerTexts()).map((c) => c.trim());
    expect(cells.slice(0, 3)).toEqual(["nixpkgs-mirror", "public", "1"]);
    expect(cells[3]).toMatch(/^234\.\d KiB$/);
    // The NAR repeats one 30 kB block: deduplication, not compression, shrinks it.
    const dedup = Number(/^(\d+\.\d\d)×$/.exec(cells[6] ?? "")?.[1]);
    expect(dedup).toBeGreaterThan(1.5);
    expect(cells[7]).toMatch(/^\d+\.\d\d×$/);
    expect(parseSize(cells[4] as string)).toBeLessThan(parseSize(cells[3] as string));

    const conf = await page.locator("#cache-nixpkgs-mirror pre.nix-conf").innerText();
    expect(conf).toBe(
      `extra-substituters = ${server.url}/nixpkgs-mirror\nextra-trusted-public-keys = ${await publicKeyOf("nixpkgs-mirror")}`,
    );

    const recent = await page.locator("#recent tbody").innerText();
    expect(recent).toContain(publicPath.storePath);
    expect(await page.locator("#recent tbody tr td:first-child").first().innerText()).toBe("just now");
    expect(recent).not.toMatch(/\d{4}-\d\d-\d\dT/);
    const text = await page.locator("body").innerText();
    expect(text).not.toContain("team-private");
    expect(text).not.toContain("internal-tool");
    expect(text).toContain("Sign in with a token");
    const shot = await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(shot.length).toBeGreaterThan(10_000);
    await page.close();
  });

  it("signs in with a pasted token kept in the tab's sessionStorage, sent as a header, no cookie", async () => {
    const token = await server.mintToken("dev", { "team-*": ["r"] });
    const context = await browser.newContext();
    const page = await context.newPage();
    const authorizations: string[] = [];
    page.on("request", (r) => {
      const auth = r.headers().authorization;
      if (auth) authorizations.push(auth);
    });
    await page.goto(`${server.url}/`);
    await page.locator("#token").fill(token);
    await page.locator("#sign-in button").click();
    await page.locator("#cache-team-private").waitFor();

    const names = await page.locator("#caches tbody tr td:first-child").allInnerTexts();
    expect(names).toEqual(["nixpkgs-mirror", "team-private"]);
    expect(authorizations).toEqual([`Bearer ${token}`]);
    expect(await page.evaluate(() => sessionStorage.getItem("garret-token"))).toBe(token);
    expect(await page.evaluate("document.cookie")).toBe("");
    expect(await context.cookies()).toEqual([]);
    expect(await page.locator("#token").inputValue()).toBe("");
    expect(await page.locator("#sign-in").isVisible()).toBe(false);
    expect(await page.locator("#signed-in").isVisible()).toBe(true);
    expect(await page.locator("#cache-team-private").innerText()).toContain(
      "machine 127.0.0.1 password TOKEN",
    );

    // A chunk shared by two caches counts once in the Total row.
    const stored = (row: string) => page.locator(`${row} > :nth-child(6)`).innerText();
    const publicStored = parseSize(await stored("#caches tbody tr:nth-child(1)"));
    const privateStored = parseSize(await stored("#caches tbody tr:nth-child(2)"));
    const totalStored = parseSize(await stored("#caches tfoot tr"));
    expect(totalStored).toBe(privateStored);
    expect(totalStored).toBeLessThan(publicStored + privateStored);
    await page.screenshot({ path: SCREENSHOT.replace(".png", "-signed-in.png"), fullPage: true });

    // Kept across a reload of the tab, not shared with another tab, gone after signing out.
    await page.reload();
    await page.locator("#cache-team-private").waitFor();
    const other = await context.newPage();
    await other.goto(`${server.url}/`);
    expect(await other.locator("body").innerText()).not.toContain("team-private");
    await page.locator("#sign-out").click();
    await page.waitForLoadState("load");
    await page.locator("#sign-in").waitFor({ state: "visible" });
    expect(await page.locator("#signed-in").isVisible()).toBe(false);
    expect(await page.locator("body").innerText()).not.toContain("team-private");
    await context.close();
  });

  it("tells a visitor whose token expired", async () => {
    const expired = await server.tokens.mint({
      sub: "old",
      validitySeconds: 60,
      caches: [],
      now: Date.UTC(2025, 0, 1) / 1000,
    });
    const page = await browser.newPage();
    await page.goto(`${server.url}/`);
    await page.locator("#token").fill(expired);
    await page.locator("#sign-in button").click();
    await page.locator("#who.warn").waitFor();
    expect(await page.locator("#who").innerText()).toContain("The token expired at 2025-01-01T00:01:00.000Z");
    await page.close();
  });
});
