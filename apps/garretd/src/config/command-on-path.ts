/**
 * How to spell a garret command so that it works as typed in a new shell: its bare name when a
 * directory on PATH has it (`npm run install-bins` puts it in ~/.local/bin), else this Node and the
 * checkout's launcher, absolute. PATH entries inside node_modules (`npm start` adds
 * node_modules/.bin) do not count: a new shell does not have them.
 */
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";

const LAUNCHERS: Record<string, URL> = {
  garret: new URL("../../../garret/bin/garret.js", import.meta.url),
  garretadm: new URL("../../bin/garretadm.js", import.meta.url),
  garretd: new URL("../../bin/garretd.js", import.meta.url),
};

function onPath(name: string, path: string | undefined): boolean {
  for (const dir of (path ?? "").split(delimiter)) {
    if (!dir || dir.split(/[\\/]/).includes("node_modules")) continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {}
  }
  return false;
}

export function commandForNewShell(name: keyof typeof LAUNCHERS, env: { PATH?: string | undefined }): string {
  if (onPath(name, env.PATH)) return name;
  const launcher = LAUNCHERS[name] as URL;
  return `${process.execPath} ${fileURLToPath(launcher)}`;
}
