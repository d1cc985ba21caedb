/**
 * garretd's command line, atticd's flags (attic `server/src/main.rs`) plus `--log-level`:
 *
 *     garretd [-f|--config PATH] [-l|--listen ADDR] [--mode MODE] [--log-level LEVEL] [-h|--help]
 *
 * Without `-f`, the configuration is looked up as config.ts describes.
 */

import { parseArgs } from "node:util";

export const GARRETD_MODES = [
  "monolithic",
  "api-server",
  "garbage-collector",
  "garbage-collector-once",
  "db-migrations",
  "check-config",
] as const;

export type GarretdMode = (typeof GARRETD_MODES)[number];

export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;

export interface GarretdArgs {
  configPath?: string;
  listen?: string;
  mode: GarretdMode;
  logLevel?: string;
  help: boolean;
}

export class ArgsError extends Error {
  override name = "ArgsError";
}

export const GARRETD_USAGE = `Usage: garretd [OPTIONS]

A Nix binary cache server, compatible with atticd.

Options:
  -f, --config <PATH>     Path to server.toml (default: $ATTIC_SERVER_CONFIG_BASE64, then
                          $XDG_CONFIG_HOME/attic/server.toml, then $XDG_CONFIG_HOME/garret/server.toml;
                          with none of them, monolithic mode writes a fresh garret/server.toml)
  -l, --listen <ADDR>     Socket address to listen on, overriding "listen" ([::]:8080, 127.0.0.1:9000)
      --mode <MODE>       ${GARRETD_MODES.join(" | ")} [default: monolithic]
                            monolithic              migrate the database, run GC periodically and serve
                            api-server              serve only
                            garbage-collector       run GC periodically only
                            garbage-collector-once  run GC once and exit
                            db-migrations           migrate the database and exit
                            check-config            load the configuration, connect nowhere, exit
      --log-level <LEVEL> ${LOG_LEVELS.join(" | ")} [default: $ATTICD_LOG or info]
  -h, --help              Print this help
`;

const OPTIONS = {
  config: { type: "string", short: "f" },
  listen: { type: "string", short: "l" },
  mode: { type: "string" },
  "log-level": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

export function parseGarretdArgs(argv: readonly string[]): GarretdArgs {
  let values: { config?: string; listen?: string; mode?: string; "log-level"?: string; help?: boolean };
  try {
    ({ values } = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (e) {
    throw new ArgsError(
      `${(e as Error).message}\nValid options: -f/--config PATH, -l/--listen ADDR, --mode MODE, --log-level LEVEL, -h/--help`,
    );
  }
  const mode = values.mode ?? "monolithic";
  if (!isMode(mode))
    throw new ArgsError(`invalid --mode "${mode}"; valid modes: ${GARRETD_MODES.join(", ")}`);
  const logLevel = values["log-level"];
  if (logLevel !== undefined && !(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ArgsError(`invalid --log-level "${logLevel}"; valid levels: ${LOG_LEVELS.join(", ")}`);
  }
  return {
    mode,
    help: values.help ?? false,
    ...(values.config !== undefined && { configPath: values.config }),
    ...(values.listen !== undefined && { listen: values.listen }),
    ...(logLevel !== undefined && { logLevel }),
  };
}

function isMode(s: string): s is GarretdMode {
  return (GARRETD_MODES as readonly string[]).includes(s);
}
