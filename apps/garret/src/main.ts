/**
 * `garret`: command table, argument parsing (node:util parseArgs) and error reporting.
 * Exit codes: 0 success, 1 failure (the server's `Kind: message` is printed), 2 usage error.
 */
import { CliUsageError, didYouMean, formatOptionsHelp, type OptionSpecs, parseOptions } from "@garret/cli";
import type { CliContext } from "./context.ts";
import { HintedError, UsageError } from "./errors.ts";
import { parseJobs } from "./options.ts";

type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

interface Command {
  usage: string;
  summary: string;
  /** More text for `--help`, after the usage line. */
  details?: string;
  options: OptionSpecs;
  /** [min, max] positionals */
  arity: [number, number];
  run(ctx: CliContext, args: string[], values: Values): Promise<number>;
}

const str = (v: Values, k: string) => v[k] as string | undefined;
const bool = (v: Values, k: string) => v[k] === true;
const list = (v: Values, k: string) => v[k] as string[] | undefined;

async function storeDir(ctx: CliContext): Promise<string> {
  const { DEFAULT_STORE_DIR } = await import("./store-path.ts");
  return (ctx.env.NIX_STORE_DIR || DEFAULT_STORE_DIR).replace(/\/+$/, "");
}

const jobsOption = {
  jobs: { type: "string", short: "j", value: "N", description: "Paths uploaded at once", default: "5" },
} as const satisfies OptionSpecs;
const noClosure = {
  "no-closure": { type: "boolean", description: "Push only the paths given, not their dependencies" },
} as const satisfies OptionSpecs;
const ignoreFilter = {
  "ignore-upstream-cache-filter": {
    type: "boolean",
    description: "Also push paths the cache's upstream caches (e.g. cache.nixos.org) already have",
  },
} as const satisfies OptionSpecs;
const forcePreamble = {
  "force-preamble": {
    type: "boolean",
    description:
      "Send each path's metadata in the body instead of a header (for proxies with small header limits); implies --attic-api",
  },
} as const satisfies OptionSpecs;
const atticApi = {
  "attic-api": {
    type: "boolean",
    description:
      "Upload whole NARs with the attic API even when the server offers garret's chunk upload (which sends only the chunks it lacks)",
  },
} as const satisfies OptionSpecs;
const upstreamKeyName = {
  "upstream-cache-key-name": {
    type: "string",
    multiple: true,
    value: "NAME",
    description: "Key name of an upstream cache whose paths are not pushed",
    default: "cache.nixos.org-1",
  },
} as const satisfies OptionSpecs;
const priority = {
  priority: {
    type: "string",
    value: "N",
    description: "Substituter priority advertised in nix-cache-info (lower is preferred)",
    default: "41",
  },
} as const satisfies OptionSpecs;
const storeDirOption = {
  "store-dir": {
    type: "string",
    value: "DIR",
    description: "Nix store directory of the cache's paths",
    default: "/nix/store",
  },
} as const satisfies OptionSpecs;

// Each command's code loads when it runs, so `--help`, `--version` and usage errors answer at once.
const COMMANDS: Record<string, Command> = {
  login: {
    usage: "garret login NAME ENDPOINT [TOKEN] [--set-default]",
    summary: "Log into a server (stored in $XDG_CONFIG_HOME/attic/config.toml)",
    details:
      "ENDPOINT is the server's URL (http://localhost:8080). Without TOKEN the server is used\n" +
      "anonymously (public caches only). The first server logged into becomes the default.",
    options: {
      "set-default": { type: "boolean", description: "Make this server the default one" },
    },
    arity: [2, 3],
    run: async (ctx, [name, endpoint, token], v) =>
      (await import("./commands/login.ts")).login(
        ctx,
        name as string,
        endpoint as string,
        token,
        bool(v, "set-default"),
      ),
  },
  use: {
    usage: "garret use CACHE",
    summary: "Configure Nix to substitute from a cache",
    options: {},
    arity: [1, 1],
    run: async (ctx, [cache]) => (await import("./commands/use.ts")).use(ctx, cache as string),
  },
  push: {
    usage:
      "garret push CACHE [PATHS...] [--stdin] [--no-closure] [--ignore-upstream-cache-filter] [-j N] [--force-preamble] [--attic-api] [--dry-run]",
    summary: "Push store paths and their closures to a cache",
    details: "PATHS may be store paths or symlinks to them (./result).",
    options: {
      stdin: { type: "boolean", description: "Read the paths to push from standard input, one per line" },
      ...noClosure,
      ...ignoreFilter,
      ...forcePreamble,
      ...atticApi,
      "dry-run": { type: "boolean", description: "List what would be pushed; push nothing" },
      ...jobsOption,
    },
    arity: [1, Number.POSITIVE_INFINITY],
    run: async (ctx, [cache, ...paths], v) =>
      (await import("./commands/push.ts")).push(ctx, await storeDir(ctx), cache as string, paths, {
        stdin: bool(v, "stdin"),
        noClosure: bool(v, "no-closure"),
        ignoreUpstreamCacheFilter: bool(v, "ignore-upstream-cache-filter"),
        jobs: parseJobs(str(v, "jobs")),
        forcePreamble: bool(v, "force-preamble"),
        atticApi: bool(v, "attic-api"),
        dryRun: bool(v, "dry-run"),
      }),
  },
  "watch-store": {
    usage:
      "garret watch-store CACHE [-j N] [--ignore-upstream-cache-filter] [--no-closure] [--force-preamble] [--attic-api]",
    summary: "Watch the Nix store and push new paths until interrupted",
    options: { ...ignoreFilter, ...noClosure, ...forcePreamble, ...atticApi, ...jobsOption },
    arity: [1, 1],
    run: async (ctx, [cache], v) =>
      (await import("./commands/watch-store.ts")).watchStore(ctx, await storeDir(ctx), cache as string, {
        jobs: parseJobs(str(v, "jobs")),
        ignoreUpstreamCacheFilter: bool(v, "ignore-upstream-cache-filter"),
        noClosure: bool(v, "no-closure"),
        forcePreamble: bool(v, "force-preamble"),
        atticApi: bool(v, "attic-api"),
      }),
  },
  "cache create": {
    usage:
      "garret cache create CACHE [--public] [--priority N] [--upstream-cache-key-name NAME]... [--store-dir DIR]",
    summary: "Create a cache (signing key generated by the server)",
    options: {
      public: { type: "boolean", description: "Let anyone pull without a token (default: private)" },
      ...priority,
      ...upstreamKeyName,
      ...storeDirOption,
    },
    arity: [1, 1],
    run: async (ctx, [cache], v) =>
      (await import("./commands/cache.ts")).cacheCreate(ctx, cache as string, {
        public: bool(v, "public"),
        priority: str(v, "priority"),
        upstreamKeyNames: list(v, "upstream-cache-key-name"),
        storeDir: str(v, "store-dir"),
      }),
  },
  "cache configure": {
    usage:
      "garret cache configure CACHE [--regenerate-keypair] [--public | --private] [--priority N] [--upstream-cache-key-name NAME]... [--retention-period DURATION | --reset-retention-period] [--store-dir DIR] [--upstream URL... --upstream-key KEY... | --no-upstream | --default-upstream]",
    summary: "Change cache settings (only the ones given)",
    options: {
      "regenerate-keypair": {
        type: "boolean",
        description: "Make a new signing key (clients need the new public key)",
      },
      public: { type: "boolean", description: "Let anyone pull without a token" },
      private: { type: "boolean", description: "Require a token to pull" },
      priority: { ...priority.priority, default: undefined },
      "upstream-cache-key-name": { ...upstreamKeyName["upstream-cache-key-name"], default: undefined },
      "retention-period": {
        type: "string",
        value: "DURATION",
        description: 'Keep unaccessed paths this long ("30d", "6 months"; "0s" keeps them forever)',
      },
      "reset-retention-period": {
        type: "boolean",
        description: "Use the server's default retention period again",
      },
      "store-dir": { ...storeDirOption["store-dir"], default: undefined },
      upstream: {
        type: "string",
        multiple: true,
        value: "URL",
        description:
          "Pull paths this cache lacks from this binary cache (garretd; repeat for more, tried in order)",
      },
      "upstream-key": {
        type: "string",
        multiple: true,
        value: "KEY",
        description: "Public key (name:base64) trusted to sign what --upstream serves (repeatable)",
      },
      "no-upstream": { type: "boolean", description: "Turn pull-through off for this cache (garretd)" },
      "default-upstream": {
        type: "boolean",
        description: "Use the server's [garret.upstream] default upstreams again (garretd)",
      },
    },
    arity: [1, 1],
    run: async (ctx, [cache], v) =>
      (await import("./commands/cache.ts")).cacheConfigure(ctx, cache as string, {
        upstreams: list(v, "upstream"),
        upstreamKeys: list(v, "upstream-key"),
        noUpstream: bool(v, "no-upstream"),
        defaultUpstream: bool(v, "default-upstream"),
        regenerateKeypair: bool(v, "regenerate-keypair"),
        public: bool(v, "public"),
        private: bool(v, "private"),
        priority: str(v, "priority"),
        upstreamKeyNames: list(v, "upstream-cache-key-name"),
        retentionPeriod: str(v, "retention-period"),
        resetRetentionPeriod: bool(v, "reset-retention-period"),
        storeDir: str(v, "store-dir"),
      }),
  },
  "cache info": {
    usage: "garret cache info CACHE",
    summary: "Show a cache's configuration (and garretd's statistics)",
    options: {},
    arity: [1, 1],
    run: async (ctx, [cache]) => (await import("./commands/cache.ts")).cacheInfo(ctx, cache as string),
  },
  "cache destroy": {
    usage: "garret cache destroy CACHE [--no-confirm]",
    summary: "Delete a cache and everything in it",
    options: { "no-confirm": { type: "boolean", description: "Do not ask for confirmation" } },
    arity: [1, 1],
    run: async (ctx, [cache], v) =>
      (await import("./commands/cache.ts")).cacheDestroy(ctx, cache as string, bool(v, "no-confirm")),
  },
  "pin add": {
    usage: "garret pin add CACHE NAME PATHS... [--expires DURATION | --expires-at ISO-TIME]",
    summary: "Pin store paths (and their closure) against retention [garretd, needs cr]",
    details:
      "A pin is a named GC root: until it expires, its paths and their closure in the cache are kept\n" +
      "whatever the retention period. Adding a pin with an existing name replaces it.\n" +
      "PATHS may be store paths or symlinks to them (./result). Without --expires/--expires-at\n" +
      'the pin never expires. DURATION as in "30d", "2 weeks", "1y"; ISO-TIME as in 2027-01-01T00:00:00Z.',
    options: {
      expires: { type: "string", value: "DURATION", description: "Expire this long from now" },
      "expires-at": { type: "string", value: "ISO-TIME", description: "Expire at this time" },
    },
    arity: [3, Number.POSITIVE_INFINITY],
    run: async (ctx, [cache, name, ...paths], v) =>
      (await import("./commands/pin.ts")).pinAdd(
        ctx,
        await storeDir(ctx),
        cache as string,
        name as string,
        paths,
        {
          expires: str(v, "expires"),
          expiresAt: str(v, "expires-at"),
        },
      ),
  },
  "pin list": {
    usage: "garret pin list CACHE [--json]",
    summary: "List a cache's pins [garretd, needs cr]",
    options: { json: { type: "boolean", description: "Print JSON instead of a table" } },
    arity: [1, 1],
    run: async (ctx, [cache], v) =>
      (await import("./commands/pin.ts")).pinList(ctx, cache as string, bool(v, "json")),
  },
  "pin remove": {
    usage: "garret pin remove CACHE NAME",
    summary: "Remove a pin; its paths fall under retention again [garretd, needs cr]",
    options: {},
    arity: [2, 2],
    run: async (ctx, [cache, name]) =>
      (await import("./commands/pin.ts")).pinRemove(ctx, cache as string, name as string),
  },
  delete: {
    usage: "garret delete CACHE PATHS...",
    summary: "Delete store paths from a cache [garretd, needs d]",
    details:
      "PATHS may be store paths, symlinks to them (./result) or bare store path hashes; they need\n" +
      "not exist locally. Each path leaves the cache at once (other paths that reference it keep\n" +
      "their own entries); its data is freed at the next garbage collection unless shared.",
    options: {},
    arity: [2, Number.POSITIVE_INFINITY],
    run: async (ctx, [cache, ...paths]) =>
      (await import("./commands/delete.ts")).deletePaths(ctx, await storeDir(ctx), cache as string, paths),
  },
  "get-closure": {
    usage: "garret get-closure PATH [--include-outputs]",
    summary: "Print the closure of a store path",
    options: {
      "include-outputs": {
        type: "boolean",
        description: "Include the outputs of derivations in the closure",
      },
    },
    arity: [1, 1],
    run: async (ctx, [path], v) =>
      (await import("./commands/get-closure.ts")).getClosure(
        ctx,
        await storeDir(ctx),
        path as string,
        bool(v, "include-outputs"),
      ),
  },
};

export function helpText(version: string): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return (
    `garret ${version}: client for garretd and atticd binary caches\n\n` +
    `Usage: garret <command> [options]\n\nCommands:\n${lines.join("\n")}\n\n` +
    `A CACHE is "name" (on the default server) or "server:name".\n` +
    `Commands marked [garretd] use garret extensions that atticd does not have.\n` +
    `Run "garret <command> --help" for a command's options.\n\n` +
    `Options:\n  -h, --help     Print this help\n  -V, --version  Print the version\n`
  );
}

/** Words that only introduce two-word commands (`cache create`, `pin add`). */
const GROUPS = new Set(["cache", "pin"]);

/** Finds the command for argv (two words for a group's commands), returning it and the remaining args. */
export function findCommand(argv: string[]): { name: string; command: Command; rest: string[] } | undefined {
  const [first, second] = argv;
  if (first === undefined) return undefined;
  const two = `${first} ${second ?? ""}`;
  if (COMMANDS[two]) return { name: two, command: COMMANDS[two] as Command, rest: argv.slice(2) };
  if (COMMANDS[first] && !GROUPS.has(first))
    return { name: first, command: COMMANDS[first] as Command, rest: argv.slice(1) };
  return undefined;
}

export function parseCommandArgs(
  command: Command,
  rest: string[],
): { args: string[]; values: Values; help: boolean } {
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions(rest, command.options, { allowPositionals: true });
  } catch (e) {
    if (e instanceof CliUsageError) throw new UsageError(e.message);
    throw e;
  }
  const values = parsed.values as Values;
  if (values.help === true) return { args: [], values, help: true };
  const [min, max] = command.arity;
  if (parsed.positionals.length < min) throw new UsageError("missing arguments");
  if (parsed.positionals.length > max)
    throw new UsageError(`unexpected argument "${parsed.positionals[max]}"`);
  return { args: parsed.positionals, values, help: false };
}

/** `garret <command> --help`: summary, usage, details and every option with its default. */
export function commandHelp(command: Command): string {
  const details = command.details ? `\n${command.details}\n` : "";
  return (
    `${command.summary}\n\nUsage: ${command.usage}\n${details}\n` +
    `Options:\n${formatOptionsHelp(command.options)}\n`
  );
}

function unknownCommand(argv: string[]): string {
  const group = GROUPS.has(argv[0] ?? "");
  const word = argv.slice(0, group ? 2 : 1).join(" ");
  const names = Object.keys(COMMANDS).filter((n) => !group || n.startsWith(`${argv[0]} `));
  return `unknown command '${word}'${didYouMean(word, names)}`;
}

export async function main(argv: string[], ctx: CliContext): Promise<number> {
  if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help") {
    ctx.stdout.write(helpText(ctx.version));
    return argv.length === 0 ? 2 : 0;
  }
  if (argv[0] === "--version" || argv[0] === "-V" || argv[0] === "version") {
    ctx.stdout.write(`garret ${ctx.version}\n`);
    return 0;
  }
  const found = findCommand(argv);
  if (!found) {
    ctx.stderr.write(`error: ${unknownCommand(argv)}\n\nRun 'garret --help' for the list of commands.\n`);
    return 2;
  }
  try {
    const { args, values, help } = parseCommandArgs(found.command, found.rest);
    if (help) {
      ctx.stdout.write(commandHelp(found.command));
      return 0;
    }
    return await found.command.run(ctx, args, values);
  } catch (e) {
    if (e instanceof UsageError) {
      ctx.stderr.write(
        `error: ${e.message}\nUsage: ${found.command.usage}\nRun 'garret ${found.name} --help' for its options.\n`,
      );
      return 2;
    }
    ctx.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
    if (e instanceof HintedError && e.hint) ctx.stderr.write(`${e.hint}\n`);
    return 1;
  }
}
