/**
 * Option tables for the command lines: one declaration gives the parser its options (node:util
 * parseArgs) and `--help` its lines (with defaults), and parse failures become one-line messages
 * with a suggestion for a mistyped flag instead of the parser's own text.
 */
import { type ParseArgsConfig, parseArgs } from "node:util";
import { didYouMean } from "./suggest.ts";

export interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  multiple?: boolean;
  /** Name of the value in help: `--jobs <N>`. */
  value?: string;
  /** Required where help is generated from the table (garret); garretadm writes its help by hand. */
  description?: string;
  /** The default as shown in help: `[default: 5]`. Applied by the caller, not the parser. */
  default?: string;
}

export type OptionSpecs = Readonly<Record<string, OptionSpec>>;
export type OptionValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** A command-line mistake; callers print `error: <message>` and exit 2. */
export class CliUsageError extends Error {
  override name = "CliUsageError";
}

const HELP: OptionSpec = { type: "boolean", short: "h", description: "Print this help" };

function withHelp(specs: OptionSpecs): OptionSpecs {
  return specs.help ? specs : { ...specs, help: HELP };
}

export function parseOptions(
  args: readonly string[],
  specs: OptionSpecs,
  opts: { allowPositionals?: boolean } = {},
): { values: OptionValues; positionals: string[] } {
  const all = withHelp(specs);
  const options: NonNullable<ParseArgsConfig["options"]> = {};
  for (const [name, s] of Object.entries(all)) {
    options[name] = {
      type: s.type,
      ...(s.short !== undefined && { short: s.short }),
      ...(s.multiple !== undefined && { multiple: s.multiple }),
    };
  }
  try {
    const { values, positionals } = parseArgs({
      args: [...args],
      options,
      strict: true,
      allowPositionals: opts.allowPositionals ?? false,
    });
    return { values: values as OptionValues, positionals };
  } catch (err) {
    throw new CliUsageError(explainParseError(err as Error & { code?: string }, all));
  }
}

function flagNames(specs: OptionSpecs): string[] {
  return Object.entries(specs).flatMap(([name, s]) => [`--${name}`, ...(s.short ? [`-${s.short}`] : [])]);
}

function spelled(specs: OptionSpecs, quoted: string): string {
  const long = quoted.match(/--[\w-]+/)?.[0];
  if (long) return long;
  const short = quoted.match(/^-(\w)/)?.[1];
  const name = Object.entries(specs).find(([, s]) => s.short === short)?.[0];
  return name ? `--${name}` : quoted;
}

function explainParseError(err: Error & { code?: string }, specs: OptionSpecs): string {
  const quoted = err.message.match(/'([^']+)'/)?.[1] ?? "";
  switch (err.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION": {
      const flag = quoted.split("=")[0] ?? quoted;
      return `unknown option '${flag}'${didYouMean(flag, flagNames(specs))}`;
    }
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return `unexpected argument '${quoted}'`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE": {
      const flag = spelled(specs, quoted);
      const spec = specs[flag.replace(/^--/, "")];
      if (spec?.type === "boolean") return `option '${flag}' takes no value`;
      if (/ambiguous/.test(err.message)) {
        return `option '${flag}' needs a value; to give one that starts with '-', write ${flag}=VALUE`;
      }
      return `option '${flag}' needs a value: ${flag} <${spec?.value ?? "VALUE"}>`;
    }
    default:
      return err.message.charAt(0).toLowerCase() + err.message.slice(1);
  }
}

/** Help lines for the options, aligned, each with its default when it has one. */
export function formatOptionsHelp(specs: OptionSpecs): string {
  const rows = Object.entries(withHelp(specs)).map(([name, s]) => {
    const value = s.type === "string" ? ` <${s.value ?? "VALUE"}>` : "";
    const flag = `${s.short ? `-${s.short}, ` : "    "}--${name}${value}`;
    const repeat = s.multiple ? " (repeatable)" : "";
    const fallback = s.default !== undefined ? ` [default: ${s.default}]` : "";
    return [flag, `${s.description ?? ""}${repeat}${fallback}`] as const;
  });
  const width = Math.max(...rows.map(([flag]) => flag.length));
  return rows.map(([flag, text]) => `  ${flag.padEnd(width)}  ${text}`).join("\n");
}
