/**
 * The status page at `/` rendered by a real browser: Debian's headless Chromium driven by
 * playwright-core (installed by .ci/run). garretd runs as a process, a public and a private cache
 * get a path each, and the page is checked as a visitor sees it (rendered text, not markup), once
 * anonymously and once with a token sent in `Authorization`. A screenshot goes to /tmp.
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
  expect([publicPath.status, privatePath.status]).toEqual([200, 200]);

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

describe("status page in headless Chromium", () => {
  it("shows visitors the public caches, their sizes, dedup ratio and latest uploads", async () => {
    const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
    const response = await page.goto(`${server.url}/`);
    expect(response?.status()).toBe(200);
    expect(await page.title()).toBe("garret");
    await expect(page.locator("h1").innerText()).resolves.toBe("garret");

    const rows = await page.locator("#caches tbody tr").allInnerTexts();
    expect(rows).toHaveLength(1);
    const cells = (await page.locator("#caches tbody tr td").allInnerTexts()).map((c) => c.trim());
    expect(cells[0]).toBe("nixpkgs-mirror");
    expect(cells[1]).toBe("public");
    expect(cells[2]).toBe("1");
    expect(cells[3]).toMatch(/^234\.\d KiB$/);
    expect(cells[4]).toMatch(/^\d+(\.\d+)? KiB$/);
    const ratio = Number(/^(\d+\.\d\d)×$/.exec(cells[5] ?? "")?.[1]);
    expect(ratio).toBeGreaterThan(2);

    const recent = await page.locator("#recent tbody").innerText();
    expect(recent).toContain(publicPath.storePath);
    const text = await page.locator("body").innerText();
    expect(text).not.toContain("team-private");
    expect(text).not.toContain("internal-tool");
    expect(text).toContain("Send a token in the Authorization header");
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    await page.close();
  });

  it("adds the caches of the token sent in Authorization", async () => {
    const token = await server.mintToken("dev", { "team-*": ["r"] });
    const context = await browser.newContext({ extraHTTPHeaders: { authorization: `Bearer ${token}` } });
    const page = await context.newPage();
    await page.goto(`${server.url}/`);
    const names = await page.locator("#caches tbody tr td:first-child").allInnerTexts();
    expect(names).toEqual(["nixpkgs-mirror", "team-private"]);
    const recent = await page.locator("#recent tbody").innerText();
    expect(recent).toContain(privatePath.storePath);
    expect(recent).toContain(publicPath.storePath);
    await context.close();
  });
});
