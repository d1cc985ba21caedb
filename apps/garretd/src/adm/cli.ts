/**
 * garretadm's process entry point: runGarretadm with the real process and file system.
 */

import { existsSync, readFileSync } from "node:fs";
import { restrictUmask } from "../ops/private-dirs.ts";
import { runGarretadm } from "./main.ts";

restrictUmask();

process.exitCode = await runGarretadm(process.argv.slice(2), {
  env: process.env,
  readFile: (path) => readFileSync(path, "utf8"),
  fileExists: existsSync,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
});
