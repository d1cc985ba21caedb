/**
 * The status page in one process: what anonymous callers and token holders see, sizes and dedup
 * ratio, latest uploads, and escaping of every database value, on every database kind.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../../../../test/support/app.ts";
import { describeEachDb } from "../../../../test/support/postgres.ts";
import { pushNar } from "../../../../test/support/push-nar.ts";
import { escapeHtml, formatAge, formatBytes } from "./status-page-html.ts";

describeEachDb("status page", (getDb) => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({ db: getDb() });
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
      // One script, allowed by its hash; nothing else may run, and nothing sets a cookie.
      expect(html.match(/<script>/g)).toHaveLength(1);
      const csp = res.headers.get("content-security-policy") ?? "";
      expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/]+=*';/);
      expect(csp).not.toMatch(/script-src [^;]*unsafe/);
      expect(res.headers.get("set-cookie")).toBeNull();
    });

    it("gives each cache its substituter URL, public key and nix.conf lines", async () => {
      const html = await (await t.request("/")).text();
      const key = ((await (await t.request("/_api/v1/cache-config/open")).json()) as { public_key: string })
        .public_key;
      expect(html).toContain(`<code class="substituter">http://cache.test/open</code>`);
      expect(html).toContain(`<code class="public-key">${key}</code>`);
      expect(html).toContain(
        `<pre class="nix-conf">extra-substituters = http://cache.test/open\nextra-trusted-public-keys = ${key}</pre>`,
      );
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
});

describe("status page formatting", () => {
  it("escapes HTML and formats sizes", () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe("&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1536)).toBe("1.50 KiB");
    expect(formatBytes(300 * 1024 * 1024)).toBe("300.0 MiB");
  });

  it("says how long ago, not an ISO timestamp", () => {
    const now = new Date("2026-12-02T12:00:00Z");
    const ago = (seconds: number) => formatAge(new Date(now.getTime() - seconds * 1000), now);
    expect(ago(10)).toBe("just now");
    expect(ago(60)).toBe("1 minute ago");
    expect(ago(5 * 60)).toBe("5 minutes ago");
    expect(ago(3 * 3600)).toBe("3 hours ago");
    expect(ago(2 * 86_400)).toBe("2 days ago");
    expect(ago(90 * 86_400)).toBe("2026-09-03");
  });
});
