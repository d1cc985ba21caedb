/**
 * garretadm, the administration tool (atticadm's counterpart):
 *
 *     garretadm [-f|--config PATH] <COMMAND> [ARGS]
 *
 * The configuration is found as garretd finds it, but the first start never runs here: without a
 * configuration garretadm fails.
 */

import { didYouMean, packageVersion } from "@garret/cli";
import { ConfigError } from "../config/config-error.ts";
import { type AdmCommand, type AdmContext, AdmError, type AdmIo, UsageError } from "./command.ts";

export type { AdmIo } from "./command.ts";

/**
 * Each command's module (the database, storage and configuration code) loads only when it runs, so
 * `--help`, `--version` and usage errors answer at once.
 */
export const COMMANDS: Readonly<Record<string, { summary: string; load(): Promise<AdmCommand> }>> = {
  check: {
    summary: "Find (and with --repair remove) NARs whose chunks are missing or corrupt",
    load: async () => (await import("./check.ts")).checkCommand,
  },
  "make-token": {
    summary: "Generate a new token",
    load: async () => (await import("./make-token.ts")).makeTokenCommand,
  },
  tokens: {
    summary: "List and revoke recorded tokens",
    load: async () => (await import("./tokens.ts")).tokensCommand,
  },
  caches: {
    summary: "List caches with their sizes, or show one",
    load: async () => (await import("./caches.ts")).cachesCommand,
  },
  gc: {
    summary: "Run one garbage collection now (--dry-run: report only)",
    load: async () => (await import("./gc.ts")).gcCommand,
  },
};

export function garretadmUsage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  const list = Object.entries(COMMANDS)
    .map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)
    .join("\n");
  return `Usage: garretadm [OPTIONS] <COMMAND>

garret server administration utilities.

Commands:
${list}

Options:
  -f, --config <PATH>  Path to server.toml (default: the same lookup as garretd)
  -h, --help           Print this help; "garretadm <COMMAND> --help" describes a command
  -V, --version        Print the version
`;
}

export async function runGarretadm(
  argv: readonly string[],
  io: AdmIo,
  opts: { now?: () => number; openDatabase?: AdmContext["openDatabase"] } = {},
): Promise<number> {
  let configPath: string | undefined;
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "-h" || arg === "--help") {
      io.stdout(garretadmUsage());
      return 0;
    }
    if (arg === "-V" || arg === "--version") {
      io.stdout(`garretadm ${packageVersion(new URL("../../package.json", import.meta.url))}\n`);
      return 0;
    }
    if (arg === "-f" || arg === "--config") {
      const value = argv[i + 1];
      if (value === undefined) return usageError(io, `${arg} needs a value: ${arg} <PATH>`);
      configPath = value;
      i++;
    } else if (arg.startsWith("--config=")) {
      configPath = arg.slice("--config=".length);
    } else if (arg.startsWith("-f") && arg.length > 2) {
      configPath = arg.slice(2);
    } else if (arg.startsWith("-")) {
      return usageError(
        io,
        `unknown option '${arg}'${didYouMean(arg.split("=")[0] ?? arg, ["--config", "--help", "--version"])}`,
      );
    } else {
      break;
    }
  }
  const name = argv[i];
  if (name === undefined) return usageError(io, "no command given");
  const entry = COMMANDS[name];
  if (!entry)
    return usageError(
      io,
      `unknown command '${name}'${didYouMean(name, Object.keys(COMMANDS))}; commands: ${Object.keys(COMMANDS).join(", ")}`,
    );

  const [command, { loadConfig }] = await Promise.all([entry.load(), import("../config/config.ts")]);
  const ctx: AdmContext = {
    io,
    now: opts.now ?? Date.now,
    openDatabase:
      opts.openDatabase ?? (async (config, o) => (await import("./database.ts")).openAdmDatabase(config, o)),
    loadConfig() {
      const config = loadConfig({
        ...(configPath !== undefined && { configPath }),
        env: io.env,
        readFile: io.readFile,
        fileExists: io.fileExists,
      });
      if (!config) {
        throw new AdmError(
          "no configuration found: pass -f PATH, set ATTIC_SERVER_CONFIG_BASE64, or create " +
            "$XDG_CONFIG_HOME/attic/server.toml (garretd writes one on its first start)",
        );
      }
      return config;
    },
  };
  try {
    return await command.run(argv.slice(i + 1), ctx);
  } catch (e) {
    if (e instanceof UsageError) return usageError(io, e.message, command.usage);
    if (e instanceof ConfigError || e instanceof AdmError) {
      io.stderr(`error: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

function usageError(io: AdmIo, message: string, usage = garretadmUsage()): number {
  const synopsis = usage.split("\n")[0];
  io.stderr(`error: ${message}\n\n${synopsis}\n\nFor more information, try '--help'.\n`);
  return 2;
}
