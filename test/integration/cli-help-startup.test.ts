/**
 * `garret --help` and `garretadm --help` answer without loading the commands' code: no third-party
 * package (zod, smol-toml, drizzle, pg, jose, ...) and no command module, which is what keeps them
 * fast (issue 15; the times themselves are measured by `npm run bench:startup`, not here). So does
 * `garretd --help`, from its sources or its bundle: not the server's code (main.ts or the bundle's
 * chunk of it); and garretadm's bundle loads no command's chunk for its help.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const bin = (path: string) => fileURLToPath(new URL(`../../apps/${path}`, import.meta.url));

/** Records every module URL the process loads and prints them on stderr at exit. */
const RECORD_MODULES = `data:text/javascript,${encodeURIComponent(`
import { registerHooks } from "node:module";
const loaded = [];
registerHooks({ load(url, context, next) { loaded.push(url); return next(url, context); } });
process.on("exit", () => process.stderr.write("LOADED " + JSON.stringify(loaded) + "\\n"));
`)}`;

function loadedBy(
  path: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): { status: number | null; stdout: string; modules: string[] } {
  const result = spawnSync(process.execPath, ["--import", RECORD_MODULES, path, ...args], {
    encoding: "utf8",
    env: { ...process.env, GARRET_COMPILE_CACHE: "0", ...env },
  });
  const line = result.stderr.split("\n").find((l) => l.startsWith("LOADED "));
  expect(line, result.stderr).toBeDefined();
  return { status: result.status, stdout: result.stdout, modules: JSON.parse(line?.slice(7) ?? "[]") };
}

describe.each([
  ["garret", bin("garret/bin/garret.js"), /\/apps\/garret\/src\/commands\//],
  [
    "garretadm",
    bin("garretd/bin/garretadm.js"),
    /\/apps\/garretd\/src\/(adm\/(check|tokens|caches|gc|make-token|database)|config\/config)\.ts$/,
  ],
])("%s --help", (_name, path, commandCode) => {
  it("prints the help without loading any package or command", () => {
    const { status, stdout, modules } = loadedBy(path, ["--help"], { GARRET_BUNDLE: "0" });
    expect(status).toBe(0);
    expect(stdout).toMatch(/Usage: /);
    const files = modules.filter((m) => m.startsWith("file:"));
    expect(files.filter((m) => m.includes("/node_modules/"))).toEqual([]);
    expect(files.filter((m) => commandCode.test(m))).toEqual([]);
    // The probe works: it sees the launcher's own modules.
    expect(files.some((m) => m.includes("/apps/"))).toBe(true);
  });
});

describe.each([
  ["sources", { GARRET_BUNDLE: "0" }],
  ["bundle when current", {}],
])("garretd --help (%s)", (_mode, env) => {
  it("prints the help without loading the server's code or any package", () => {
    const { status, stdout, modules } = loadedBy(bin("garretd/bin/garretd.js"), ["--help"], env);
    expect(status).toBe(0);
    expect(stdout).toMatch(/^Usage: garretd/);
    const files = modules.filter((m) => m.startsWith("file:"));
    const packages = files.filter(
      (m) => m.includes("/node_modules/") && !m.includes("/.cache/garret/bundle/"),
    );
    expect(packages).toEqual([]);
    expect(files.filter((m) => /\/(src\/main\.ts|main\.mjs)$/.test(m))).toEqual([]);
    expect(files.some((m) => m.endsWith("/args.ts") || m.endsWith("/args.mjs"))).toBe(true);
  });
});

describe("garretadm --help (bundle when current)", () => {
  it("prints the help without loading a command's chunk", () => {
    const { status, stdout, modules } = loadedBy(bin("garretd/bin/garretadm.js"), ["--help"]);
    expect(status).toBe(0);
    expect(stdout).toMatch(/^Usage: garretadm/);
    const files = modules.filter((m) => m.startsWith("file:"));
    const commands = /\/(check|tokens|caches|gc|make-token|database|config)\d*\.(mjs|ts)$/;
    expect(files.filter((m) => commands.test(m))).toEqual([]);
    expect(files.some((m) => /\/(garretadm\.mjs|adm\/cli\.ts)$/.test(m))).toBe(true);
  });
});
