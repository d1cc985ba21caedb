/** `garret login NAME ENDPOINT [TOKEN] [--set-default]`: records a server; no network traffic (as attic). */
import { configPath, loadConfig, saveConfig, setServer } from "../config.ts";
import type { CliContext } from "../context.ts";
import { parseEndpoint } from "../options.ts";

export async function login(
  ctx: CliContext,
  name: string,
  endpoint: string,
  token: string | undefined,
  setDefault: boolean,
): Promise<number> {
  const path = configPath(ctx.env);
  const config = await loadConfig(path);
  const existed = config.doc.servers !== undefined && name in (config.doc.servers as object);
  setServer(config, name, parseEndpoint(endpoint), token, setDefault);
  await saveConfig(config);
  ctx.stderr.write(
    `✍️  ${existed ? "Overwrote" : "Configured"} server "${name}" (${endpoint})${token === undefined && !existed ? " without a token (anonymous)" : ""}\n`,
  );
  return 0;
}
