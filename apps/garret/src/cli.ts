/** Process entry point: wires `main` to the real process (argv, env, stdio, signals, exit code). */
import { readFileSync } from "node:fs";
import { main } from "./main.ts";

const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
  version: string;
};
const controller = new AbortController();
let interrupted = 0;
const onSignal = (signal: NodeJS.Signals) => {
  if (++interrupted > 1) process.exit(signal === "SIGINT" ? 130 : 143);
  controller.abort();
};
process.on("SIGINT", onSignal);
process.on("SIGTERM", onSignal);

const code = await main(process.argv.slice(2), {
  env: process.env,
  stdout: { write: (s) => void process.stdout.write(s), isTTY: process.stdout.isTTY },
  stderr: { write: (s) => void process.stderr.write(s), isTTY: process.stderr.isTTY },
  stdin: process.stdin,
  version: pkg.version,
  signal: controller.signal,
});
// Idle keep-alive connections would hold the process for seconds; stdout and stderr are
// synchronous for files and pipes on Linux, so nothing written is lost by exiting now.
process.exit(code);
