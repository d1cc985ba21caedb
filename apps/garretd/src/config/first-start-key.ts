/**
 * The first start's 4096-bit RS256 key, generated while the server's modules load. Generating it
 * takes a second or so of CPU, and so does loading garretd's modules on a first start (Node's
 * compile cache is still empty); run one after the other they were most of the first start's wall
 * time. cli.ts calls this before it loads main.ts: when the arguments and the environment name no
 * configuration (locate-config.ts, the same lookup loadConfig uses) and the mode writes one
 * (monolithic), the key is generated on libuv's thread pool, and runFirstStart awaits it.
 */
import { existsSync, readFileSync } from "node:fs";
import { generateRs256PrivateKeyPemAsync } from "@garret/token";
import { parseGarretdArgs } from "./args.ts";
import { locateConfig } from "./locate-config.ts";
import { configSearchPaths, dataDirectory, type Env } from "./paths.ts";

/** A key being generated when this start is a first start; undefined otherwise (or when unsure). */
export function firstStartKeyAhead(argv: string[], env: Env): Promise<string> | undefined {
  try {
    const args = parseGarretdArgs(argv);
    if (args.help || args.version || args.mode !== "monolithic") return undefined;
    const found = locateConfig({
      configPath: args.configPath,
      env,
      readFile: (p) => readFileSync(p, "utf8"),
      fileExists: (p) => existsSync(p),
    });
    // A configuration is found, or none could be written (writeDefaultConfig needs both places).
    if (found || !configSearchPaths(env) || !dataDirectory(env)) return undefined;
  } catch {
    // main reports bad arguments and configurations; no key is needed for those.
    return undefined;
  }
  const key = generateRs256PrivateKeyPemAsync(4096);
  key.catch(() => {});
  return key;
}
