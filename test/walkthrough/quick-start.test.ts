/**
 * README's quick start, followed literally by a new user: a fresh clone, a clean HOME, each step
 * in a new shell whose PATH has only Node 24 and the system (plus, once `npm run install-bins`
 * printed it, its `export PATH=…` line). The commands run are the ones README's quick-start block
 * and garretd's welcome text print, read from them, not retyped here: install, start, the printed
 * login line, create, push, use; then real Nix pulls the pushed path through the configuration
 * `garret use` wrote, with signatures required.
 *
 * What is not literal, and why: garretd gets `--listen [::]:PORT` (8080 may be taken on a shared
 * machine; the welcome text then prints that port); npm uses the machine's package cache
 * (npm_config_cache) so the clean HOME does not download everything again; the machine's Nix
 * settings a single-user root install needs (no daemon, no sandbox, no build users) come in
 * NIX_REMOTE/NIX_CONFIG, as /etc/nix/nix.conf would provide them; `./result` is built from the
 * test fixture; and the pull goes into a second, empty store (`--store local?root=…`), standing in
 * for another machine.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, readlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, expect, it } from "vitest";
import { freePort } from "../support/garretd.ts";
import { closureFixture, describeWithNix, nixTempDir, queryPathInfo } from "../support/nix.ts";

const checkout = fileURLToPath(new URL("../..", import.meta.url));
const NODE_BIN = dirname(process.execPath);
const NPM_CACHE = execFileSync("npm", ["config", "get", "cache"], { encoding: "utf8" }).trim();

/** The commands of a fenced block that follows `heading` in README (comments stripped). */
function readmeBlock(heading: string, index: number): string[] {
  const readme = readFileSync(join(checkout, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf(heading));
  const blocks = [...section.matchAll(/```[a-z]*\n([\s\S]*?)```/g)].map((m) => m[1] as string);
  return (blocks[index] ?? "")
    .split("\n")
    .map((l) => l.replace(/\s+#.*$/, "").trim())
    .filter((l) => l.length > 0);
}

let garretd: ChildProcess | undefined;
afterAll(() => {
  garretd?.kill("SIGTERM");
});

describeWithNix("README quick start, literally, in a clean HOME", () => {
  it("installs, starts, logs in, creates, pushes, uses, and Nix pulls with signatures", async () => {
    const home = await nixTempDir("walkthrough-home");
    const clone = join(home, "garret");
    execFileSync("git", ["clone", "--quiet", checkout, clone]);
    const work = join(home, "work");
    await mkdir(work);
    const env: NodeJS.ProcessEnv = {
      HOME: home,
      PATH: `${NODE_BIN}:/usr/local/bin:/usr/bin:/bin`,
      LANG: "C.UTF-8",
      npm_config_cache: NPM_CACHE,
      npm_config_prefer_offline: "true",
      NIX_REMOTE: "local",
      NIX_CONFIG:
        "sandbox = false\nbuild-users-group =\nconnect-timeout = 5\nexperimental-features = nix-command",
    };
    let pathLine = "";
    const shell = (line: string, cwd: string) =>
      execFileSync("bash", ["-c", `${pathLine}\n${line}`], { cwd, env, encoding: "utf8", stdio: "pipe" });

    const [install, installBins, start, ...rest] = readmeBlock("## Quick start", 0);
    expect([install, installBins, start, rest]).toEqual(["npm ci", "npm run install-bins", "garretd", []]);
    shell(install as string, clone);
    const installed = shell(installBins as string, clone);
    pathLine = /^\s*(export PATH=.*)$/m.exec(installed)?.[1] ?? "";
    expect(pathLine).toBe('export PATH="$HOME/.local/bin:$PATH"');

    // The README's `garretd`, in its own shell, on a free port.
    const port = await freePort();
    garretd = spawn("bash", ["-c", `${pathLine}\nexec ${start} --listen '[::]:${port}'`], {
      cwd: home,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    await new Promise<void>((resolve, reject) => {
      garretd?.stdout?.on("data", (d: Buffer) => {
        stdout += d.toString();
        if (stdout.includes('"msg":"listening"')) resolve();
      });
      garretd?.stderr?.on("data", (d: Buffer) => {
        stderr += d.toString();
      });
      garretd?.once("exit", (code) =>
        reject(new Error(`garretd exited with ${code}:\n${stdout}\n${stderr}`)),
      );
    });

    // Every indented command line of the welcome text that drives the garret client, in order.
    const printed = stderr
      .split("\n")
      .filter((l) => /^ {4}garret /.test(l))
      .map((l) => l.trim());
    expect(printed.map((l) => l.split(" ").slice(0, 3).join(" "))).toEqual([
      "garret login local",
      "garret cache create",
      "garret push demo",
      "garret use demo",
    ]);
    expect(printed[0]).toMatch(new RegExp(`^garret login local http://localhost:${port} \\S+$`));

    execFileSync(
      "nix-build",
      [closureFixture, "--argstr", "seed", `walkthrough-${port}`, "--arg", "bigMB", "0", "-A", "app"],
      {
        cwd: work,
        env,
        stdio: "pipe",
      },
    );
    const storePath = await readlink(join(work, "result"));
    for (const line of printed) shell(line, work);

    const nixConf = readFileSync(join(home, ".config", "nix", "nix.conf"), "utf8");
    expect(nixConf).toContain(`http://localhost:${port}/demo`);
    expect(nixConf).toMatch(/trusted-public-keys = demo:\S+/);

    // Another machine: an empty store, substituting through the configuration `garret use` wrote.
    const storeRoot = await nixTempDir("walkthrough-store");
    shell(`nix-store --store 'local?root=${storeRoot}' -r ${storePath}`, work);
    const [pulled] = await queryPathInfo([storePath], { store: `local?root=${storeRoot}` });
    const [local] = await queryPathInfo([storePath]);
    expect(pulled?.narHash).toBe(local?.narHash);
    expect(nixConf).not.toMatch(/require-sigs\s*=\s*false/);

    // Stopped here, before the suite removes its HOME.
    const exited = new Promise((resolve) => garretd?.once("exit", resolve));
    garretd.kill("SIGTERM");
    await exited;
  }, 900_000);
});
