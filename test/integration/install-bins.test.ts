/**
 * `npm run install-bins` through npm itself, in a clean HOME: the three commands land in
 * ~/.local/bin, and a new shell with only that directory and the system's on PATH runs them.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const checkout = fileURLToPath(new URL("../..", import.meta.url));
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe("npm run install-bins", () => {
  it("puts garretd, garretadm and garret on PATH for a new shell", async () => {
    const home = await mkdtemp(join(tmpdir(), "garret-install-"));
    dirs.push(home);
    const npmPath = `${dirname(process.execPath)}:/usr/bin:/bin`;
    const installed = await run("npm", ["run", "-s", "install-bins"], {
      cwd: checkout,
      env: { HOME: home, PATH: npmPath },
    });
    expect(installed.stdout).toContain(`Installed garret, garretadm, garretd into ${home}/.local/bin`);
    expect(installed.stdout).toContain('export PATH="$HOME/.local/bin:$PATH"');
    for (const name of ["garretd", "garretadm", "garret"]) {
      expect((await stat(join(home, ".local", "bin", name))).mode & 0o111).not.toBe(0);
    }
    // A new shell: no Node on PATH, only the line install-bins printed.
    const shell = await run(
      "/bin/sh",
      [
        "-c",
        'export PATH="$HOME/.local/bin:$PATH"; garretd --version; garretadm --version; garret --version',
      ],
      { env: { HOME: home, PATH: "/usr/bin:/bin" } },
    );
    expect(shell.stdout).toMatch(/^garretd \S+\ngarretadm \S+\ngarret \S+\n$/);
  });
});
