/**
 * The status page in one process: what anonymous callers and token holders see, sizes and dedup
 * ratio, latest uploads, and escaping of every database value.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../../../../test/support/app.ts";
import { pushNar } from "../../../../test/support/push-nar.ts";
import { escapeHtml, formatBytes } from "./status-page-html.ts";

let t: TestApp;

beforeAll(async () => {
  t = await createTestApp();
  await t.createCache("open", { isPublic: true });
  await t.createCache("closed");
  await t.createCache("elsewhere");
  const asRoot = (path: string, init: RequestInit) => t.request(path, { ...init, token: t.rootToken });
  await pushNar(asRoot, "open", { name: "hello-2.12", contents: "hello ".repeat(2000) });
  await pushNar(asRoot, "closed", { name: "secret-tool", contents: "secret" });
});
afterAll(() => t.close());

describe("GET /", () => {
  it("shows anonymous callers the public caches only, with sizes and latest uploads", async () => {
    const res = await t.request("/");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const html = await res.text();
    expect(html).toContain("<code>open</code>");
    expect(html).not.toContain("closed");
    expect(html).not.toContain("secret-tool");
    expect(html).toMatch(/<code>\/nix\/store\/[0-9a-z]{32}-hello-2\.12<\/code>/);
    expect(html).not.toMatch(/<script/i);
  });

  it("adds the caches a token may discover", async () => {
    const token = await t.mintToken("alice", { closed: ["r"] });
    const html = await (await t.request("/", { token })).text();
    expect(html).toContain("<code>open</code>");
    expect(html).toContain("<code>closed</code>");
    expect(html).toContain("secret-tool");
    expect(html).not.toContain("elsewhere");
  });
});

describe("status page formatting", () => {
  it("escapes HTML and formats sizes", () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe("&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1536)).toBe("1.50 KiB");
    expect(formatBytes(300 * 1024 * 1024)).toBe("300.0 MiB");
  });
});
