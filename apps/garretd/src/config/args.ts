/**
 * garretd's command line, atticd's flags (attic `server/src/main.rs`) plus `--log-level`:
 *
 *     garretd [-f|--config PATH] [-l|--listen ADDR] [--mode MODE] [--log-level LEVEL] [--dry-run] [-h|--help] [-V|--version]
 *
 * `--dry-run` (garret, with `--mode garbage-collector-once` only) reports what GC would delete.
 *
 * Without `-f`, the configuration is looked up as config.ts describes.
 */

import { CliUsageError, didYouMean, type OptionSpecs, packageVersion, parseOptions } from "@garret/cli";

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
  /** GC reports what it would delete and changes nothing (garbage-collector-once only). */
  dryRun?: boolean;
  help: boolean;
  version: boolean;
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
      --dry-run           With --mode garbage-collector-once: list what GC would delete, delete nothing
  -h, --help              Print this help
  -V, --version           Print the version
`;

/** The parser's table; GARRETD_USAGE above is the hand-laid-out help for the same options. */
const OPTIONS: OptionSpecs = {
  config: { type: "string", short: "f", value: "PATH", description: "Path to server.toml" },
  listen: { type: "string", short: "l", value: "ADDR", description: "Socket address to listen on" },
  mode: { type: "string", value: "MODE", description: "What to run", default: "monolithic" },
  "log-level": { type: "string", value: "LEVEL", description: "Log level", default: "info" },
  "dry-run": { type: "boolean", description: "GC reports only" },
  help: { type: "boolean", short: "h", description: "Print this help" },
  version: { type: "boolean", short: "V", description: "Print the version" },
};

export function parseGarretdArgs(argv: readonly string[]): GarretdArgs {
  let values: {
    config?: string;
    listen?: string;
    mode?: string;
    "log-level"?: string;
    "dry-run"?: boolean;
    help?: boolean;
    version?: boolean;
  };
  try {
    ({ values } = parseOptions(argv, OPTIONS) as { values: typeof values });
  } catch (e) {
    if (e instanceof CliUsageError) throw new ArgsError(e.message);
    throw e;
  }
  const mode = values.mode ?? "monolithic";
  if (!isMode(mode)) {
    throw new ArgsError(
      `invalid --mode '${mode}'${didYouMean(mode, GARRETD_MODES)}; valid modes: ${GARRETD_MODES.join(", ")}`,
    );
  }
  const logLevel = values["log-level"];
  if (logLevel !== undefined && !(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ArgsError(
      `invalid --log-level '${logLevel}'${didYouMean(logLevel, LOG_LEVELS)}; valid levels: ${LOG_LEVELS.join(", ")}`,
    );
  }
  const dryRun = values["dry-run"] === true;
  if (dryRun && mode !== "garbage-collector-once") {
    throw new ArgsError("--dry-run only applies to --mode garbage-collector-once");
  }
  return {
    mode,
    help: values.help ?? false,
    version: values.version ?? false,
    ...(dryRun && { dryRun }),
    ...(values.config !== undefined && { configPath: values.config }),
    ...(values.listen !== undefined && { listen: values.listen }),
    ...(logLevel !== undefined && { logLevel }),
  };
}

/**
 * What `--help` or `--version` prints, or null when `args` asks for neither. The CLI answers them
 * with this before the server's code loads (cli.ts), so they stay fast.
 */
export function helpOrVersion(args: Pick<GarretdArgs, "help" | "version">): string | null {
  if (args.help) return `${GARRETD_USAGE}\n`;
  if (args.version) return `garretd ${packageVersion(new URL("../../package.json", import.meta.url))}\n`;
  return null;
}

function isMode(s: string): s is GarretdMode {
  return (GARRETD_MODES as readonly string[]).includes(s);
}
