/**
 * The one error type of configuration loading. It carries every problem found (so a user fixes a file
 * in one pass) and where the configuration came from. Problem texts name TOML key paths or
 * environment variables and never contain secret values.
 */

export class ConfigError extends Error {
  readonly source: string;
  readonly problems: readonly string[];

  constructor(source: string, problems: readonly string[]) {
    const list = problems.map((p) => `  - ${indentContinuation(p)}`).join("\n");
    super(`invalid configuration (${source}):\n${list}`);
    this.name = "ConfigError";
    this.source = source;
    this.problems = problems;
  }
}

function indentContinuation(problem: string): string {
  return problem.replaceAll("\n", "\n    ");
}
