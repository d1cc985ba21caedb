/**
 * `npm run install-bins [-- --bin-dir DIR]`: puts `garretd`, `garretadm` and `garret` on PATH from
 * this checkout, as small shell wrappers in `$XDG_BIN_HOME` or `~/.local/bin`. Each wrapper runs
 * the checkout's launcher with the Node that ran this script (an absolute path), so it works in a
 * new shell whatever `node` is first on PATH there. Nothing is copied: the wrappers follow the
 * checkout (`git pull` needs no reinstall; moving the checkout does).
 *
 * `npm install -g` is not offered: Node does not run TypeScript files that lie under a
 * node_modules directory, which is where a global install puts them.
 */
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const checkout = resolve(dirname(fileURLToPath(import.meta.url)), "..");

function binaries(): Array<{ name: string; launcher: string }> {
  const out: Array<{ name: string; launcher: string }> = [];
  for (const app of readdirSync(join(checkout, "apps"))) {
    const manifest = JSON.parse(readFileSync(join(checkout, "apps", app, "package.json"), "utf8")) as {
      bin?: Record<string, string>;
    };
    for (const [name, path] of Object.entries(manifest.bin ?? {})) {
      out.push({ name, launcher: resolve(checkout, "apps", app, path) });
    }
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

const shellQuote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

function wrapper(launcher: string): string {
  return [
    "#!/bin/sh",
    `# Written by \`npm run install-bins\` in ${checkout}; rerun it if the checkout moves.`,
    `exec ${shellQuote(process.execPath)} ${shellQuote(launcher)} "$@"`,
    "",
  ].join("\n");
}

const { values } = parseArgs({
  options: { "bin-dir": { type: "string" }, help: { type: "boolean", short: "h" } },
  strict: true,
});
if (values.help) {
  process.stdout.write(
    "Usage: npm run install-bins [-- --bin-dir DIR]\n\n" +
      "Writes garretd, garretadm and garret wrappers into DIR [default: $XDG_BIN_HOME or ~/.local/bin].\n",
  );
  process.exit(0);
}
const binDir = resolve(values["bin-dir"] ?? process.env.XDG_BIN_HOME ?? join(homedir(), ".local", "bin"));
mkdirSync(binDir, { recursive: true });
const installed: string[] = [];
for (const { name, launcher } of binaries()) {
  const target = join(binDir, name);
  writeFileSync(target, wrapper(launcher));
  chmodSync(target, 0o755);
  installed.push(name);
}
process.stdout.write(`Installed ${installed.join(", ")} into ${binDir} (running ${process.execPath}).\n`);
const onPath = (process.env.PATH ?? "").split(delimiter).some((d) => d && resolve(d) === binDir);
if (!onPath) {
  const shown = binDir.startsWith(`${homedir()}/`) ? `$HOME${binDir.slice(homedir().length)}` : binDir;
  process.stdout.write(
    `${binDir} is not on your PATH. Add it for this shell, and to your shell's profile for new ones:\n\n` +
      `    export PATH="${shown}:$PATH"\n`,
  );
}
