import { mkdtemp, readFile, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import type { CliContext } from "./context.ts";
import { findCommand, main } from "./main.ts";

function fakeCtx(env: NodeJS.ProcessEnv = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const ctx: CliContext = {
    env,
    stdout: { write: (s) => void out.push(s) },
    stderr: { write: (s) => void err.push(s) },
    stdin: Readable.from([]),
    version: "9.9.9",
    signal: new AbortController().signal,
  };
  return { ctx, out: () => out.join(""), err: () => err.join("") };
}

describe("command table", () => {
  it("resolves one- and two-word commands", () => {
    expect(findCommand(["push", "c", "p"])?.name).toBe("push");
    expect(findCommand(["cache", "create", "c"])?.rest).toEqual(["c"]);
    expect(findCommand(["cache"])).toBeUndefined();
    expect(findCommand(["pin", "add", "c", "n", "p"])?.rest).toEqual(["c", "n", "p"]);
    expect(findCommand(["pin", "c"])).toBeUndefined();
    expect(findCommand(["delete", "c", "p"])?.name).toBe("delete");
    expect(findCommand(["nope"])).toBeUndefined();
  });

  it("rejects bad arguments with exit code 2 and the usage line", async () => {
    for (const argv of [
      ["push", "c", "-j", "0"],
      ["login", "x"],
      ["cache", "info", "a", "b"],
      ["use", "c", "--public"],
      ["push", "c"],
    ]) {
      const f = fakeCtx();
      expect(await main(argv, f.ctx), argv.join(" ")).toBe(2);
      expect(f.err()).toMatch(/^error: .*\nUsage: garret /);
    }
    const f = fakeCtx();
    expect(await main(["cache", "configure", "c", "--public", "--private"], f.ctx)).toBe(2);
    expect(f.err()).toContain("--public and --private cannot be used together");
  });

  it("prints help and version", async () => {
    const f = fakeCtx();
    expect(await main(["--help"], f.ctx)).toBe(0);
    expect(f.out()).toContain("cache configure");
    expect(f.out()).toMatch(/pin add .*\[garretd, needs cr\]/);
    const p = fakeCtx();
    expect(await main(["pin", "add", "--help"], p.ctx)).toBe(0);
    expect(p.out()).toMatch(/Usage: garret pin add CACHE NAME PATHS\.\.\. .*\n\nA pin is a named GC root/);
    const g = fakeCtx();
    expect(await main(["--version"], g.ctx)).toBe(0);
    expect(g.out()).toBe("garret 9.9.9\n");
  });

  it("describes every option of every command, with defaults", async () => {
    const f = fakeCtx();
    expect(await main(["push", "--help"], f.ctx)).toBe(0);
    expect(f.out()).toMatch(/-j, --jobs <N> +Paths uploaded at once \[default: 5\]/);
    expect(f.out()).toMatch(/--no-closure +Push only the paths given/);
    const c = fakeCtx();
    expect(await main(["cache", "create", "--help"], c.ctx)).toBe(0);
    expect(c.out()).toMatch(/--priority <N> .*\[default: 41\]/);
    expect(c.out()).toMatch(
      /--upstream-cache-key-name <NAME> .*\(repeatable\) \[default: cache\.nixos\.org-1\]/,
    );
    for (const argv of [
      ["login"],
      ["use"],
      ["push"],
      ["watch-store"],
      ["cache", "create"],
      ["cache", "configure"],
      ["cache", "info"],
      ["cache", "destroy"],
      ["pin", "add"],
      ["pin", "list"],
      ["pin", "remove"],
      ["delete"],
      ["get-closure"],
    ]) {
      const h = fakeCtx();
      expect(await main([...argv, "--help"], h.ctx), argv.join(" ")).toBe(0);
      const options = h.out().split("Options:\n")[1] ?? "";
      for (const line of options.trimEnd().split("\n"))
        expect(line, argv.join(" ")).toMatch(/^ +-.*\S {2,}\S/);
    }
  });

  it("suggests the flag or command a typo meant", async () => {
    const f = fakeCtx();
    expect(await main(["push", "demo", "./result", "--no-closur"], f.ctx)).toBe(2);
    expect(f.err()).toMatch(
      /^error: unknown option '--no-closur'; did you mean '--no-closure'\?\nUsage: garret push/,
    );
    const g = fakeCtx();
    expect(await main(["pussh", "demo"], g.ctx)).toBe(2);
    expect(g.err()).toMatch(/^error: unknown command 'pussh'; did you mean 'push'\?/);
    const h = fakeCtx();
    expect(await main(["cache", "craete", "demo"], h.ctx)).toBe(2);
    expect(h.err()).toMatch(/^error: unknown command 'cache craete'; did you mean 'cache create'\?/);
  });

  it("logs in without network and reports unknown servers", async () => {
    const dir = await mkdtemp(join(tmpdir(), "garret-main-"));
    const f = fakeCtx({ XDG_CONFIG_HOME: dir });
    expect(await main(["login", "local", "http://127.0.0.1:1", "tok"], f.ctx)).toBe(0);
    const path = join(dir, "attic", "config.toml");
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readFile(path, "utf8")).toContain('default-server = "local"');
    const g = fakeCtx({ XDG_CONFIG_HOME: dir });
    expect(await main(["cache", "info", "other:c"], g.ctx)).toBe(1);
    expect(g.err()).toBe('error: server "other" is not configured (known: local)\n');
  });
});
