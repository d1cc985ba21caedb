/** `garret get-closure PATH [--include-outputs]`: prints the closure, one path per line (attic's hidden debugging command). */
import { spawn } from "node:child_process";
import type { CliContext } from "../context.ts";
import { NixCli } from "../nix-cli.ts";

export async function getClosure(
  ctx: CliContext,
  storeDir: string,
  path: string,
  includeOutputs: boolean,
): Promise<number> {
  const resolved = await new NixCli(storeDir).resolvePath(path);
  const args = ["-qR", ...(includeOutputs ? ["--include-outputs"] : []), resolved];
  return new Promise((resolvePromise, reject) => {
    const child = spawn("nix-store", args, { stdio: ["ignore", "pipe", "inherit"] });
    child.stdout.on("data", (c: Buffer) => ctx.stdout.write(c.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolvePromise(code === 0 ? 0 : 1));
  });
}
