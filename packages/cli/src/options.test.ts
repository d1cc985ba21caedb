/** Option tables: mistyped flags get suggestions, values are checked, help shows defaults. */
import { describe, expect, it } from "vitest";
import { CliUsageError, formatOptionsHelp, type OptionSpecs, parseOptions } from "./options.ts";
import { closestMatch } from "./suggest.ts";

const SPECS: OptionSpecs = {
  "no-closure": { type: "boolean", description: "Push only the given paths" },
  jobs: { type: "string", short: "j", value: "N", description: "Parallel uploads", default: "5" },
  tag: { type: "string", multiple: true, value: "NAME", description: "A tag" },
};

function usageError(args: string[]): string {
  try {
    parseOptions(args, SPECS, { allowPositionals: false });
  } catch (e) {
    expect(e).toBeInstanceOf(CliUsageError);
    return (e as Error).message;
  }
  throw new Error("no error");
}

describe("parseOptions", () => {
  it("parses known options and positionals", () => {
    const r = parseOptions(["x", "--no-closure", "-j", "3", "--tag=a", "--tag", "b"], SPECS, {
      allowPositionals: true,
    });
    expect(r.positionals).toEqual(["x"]);
    expect(r.values).toMatchObject({ "no-closure": true, jobs: "3", tag: ["a", "b"] });
  });

  it("suggests the flag a typo meant", () => {
    expect(usageError(["--no-closur"])).toBe("unknown option '--no-closur'; did you mean '--no-closure'?");
    expect(usageError(["--jbos=3"])).toBe("unknown option '--jbos'; did you mean '--jobs'?");
    expect(usageError(["--frobnicate"])).toBe("unknown option '--frobnicate'");
  });

  it("says which option lacks a value, or takes none", () => {
    expect(usageError(["--jobs"])).toBe("option '--jobs' needs a value: --jobs <N>");
    expect(usageError(["-j"])).toBe("option '--jobs' needs a value: --jobs <N>");
    expect(usageError(["--no-closure=yes"])).toBe("option '--no-closure' takes no value");
    expect(usageError(["stray"])).toBe("unexpected argument 'stray'");
  });

  it("accepts --help and -h everywhere", () => {
    expect(parseOptions(["-h"], SPECS).values.help).toBe(true);
  });
});

describe("formatOptionsHelp", () => {
  it("lists every option with its value name, description and default", () => {
    const help = formatOptionsHelp(SPECS);
    expect(help).toContain("    --no-closure  ");
    expect(help).toMatch(/-j, --jobs <N> +Parallel uploads \[default: 5\]/);
    expect(help).toMatch(/--tag <NAME> +A tag \(repeatable\)/);
    expect(help).toMatch(/-h, --help +Print this help/);
  });
});

describe("closestMatch", () => {
  it("finds near misses and unique prefixes, not far-fetched ones", () => {
    expect(closestMatch("pussh", ["push", "pull", "use"])).toBe("push");
    expect(closestMatch("make-tokn", ["make-token", "tokens"])).toBe("make-token");
    expect(closestMatch("conf", ["configure", "create"])).toBe("configure");
    expect(closestMatch("xyz", ["push", "use"])).toBeUndefined();
  });
});
