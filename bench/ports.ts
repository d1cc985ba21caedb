/** Free loopback ports and waiting for a freshly started server to answer HTTP. */
import type { ChildProcess } from "node:child_process";
import { request } from "node:http";

export { freePort } from "../test/support/ports.ts";

function probe(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(url, { method: "GET", agent: false, timeout: 2000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on("error", () => resolve(false));
    req.on("timeout", () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

/** Polls `url` until any HTTP answer arrives; fails early if `child` exits, with its output. */
export async function waitForHttp(
  url: string,
  child: ChildProcess,
  output: () => string,
  timeoutMs = 60_000,
  intervalMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `${child.spawnfile} exited (${child.exitCode ?? child.signalCode}) before serving:\n${output()}`,
      );
    }
    if (await probe(url)) return;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`${child.spawnfile} did not answer on ${url} within ${timeoutMs} ms:\n${output()}`);
}
