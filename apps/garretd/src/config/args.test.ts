import { describe, expect, it } from "vitest";
import { ArgsError, GARRETD_MODES, parseGarretdArgs } from "./args.ts";

describe("parseGarretdArgs", () => {
  it("defaults to monolithic mode with nothing else set", () => {
    expect(parseGarretdArgs([])).toEqual({ mode: "monolithic", help: false, version: false });
  });

  it("reads every flag, short and long", () => {
    expect(
      parseGarretdArgs([
        "-f",
        "/etc/atticd.toml",
        "-l",
        "127.0.0.1:9000",
        "--mode",
        "api-server",
        "--log-level",
        "debug",
      ]),
    ).toEqual({
      configPath: "/etc/atticd.toml",
      listen: "127.0.0.1:9000",
      mode: "api-server",
      logLevel: "debug",
      help: false,
      version: false,
    });
    expect(parseGarretdArgs(["--config", "a.toml", "--listen=[::]:1", "--mode=check-config"])).toEqual({
      configPath: "a.toml",
      listen: "[::]:1",
      mode: "check-config",
      help: false,
      version: false,
    });
    expect(parseGarretdArgs(["-h"]).help).toBe(true);
    expect(parseGarretdArgs(["--help"]).help).toBe(true);
    expect(parseGarretdArgs(["--version"]).version).toBe(true);
    expect(parseGarretdArgs(["-V"]).version).toBe(true);
  });

  it("accepts every atticd mode", () => {
    for (const mode of GARRETD_MODES) expect(parseGarretdArgs([`--mode=${mode}`]).mode).toBe(mode);
  });

  it("rejects an unknown mode, listing the valid ones", () => {
    expect(() => parseGarretdArgs(["--mode", "server"])).toThrow(ArgsError);
    expect(() => parseGarretdArgs(["--mode", "server"])).toThrow(
      "invalid --mode 'server'; valid modes: monolithic, api-server, garbage-collector, garbage-collector-once, db-migrations, check-config",
    );
  });

  it("rejects unknown flags and stray arguments in one line, suggesting what a typo meant", () => {
    expect(() => parseGarretdArgs(["--oobe"])).toThrow(/^unknown option '--oobe'$/);
    expect(() => parseGarretdArgs(["-x"])).toThrow(/^unknown option '-x'$/);
    expect(() => parseGarretdArgs(["serve"])).toThrow(/^unexpected argument 'serve'$/);
    expect(() => parseGarretdArgs(["--mode"])).toThrow(/^option '--mode' needs a value: --mode <MODE>$/);
    expect(() => parseGarretdArgs(["--lsiten", "[::]:1"])).toThrow("did you mean '--listen'?");
    expect(() => parseGarretdArgs(["--mode", "monolitic"])).toThrow(
      /^invalid --mode 'monolitic'; did you mean 'monolithic'\?; valid modes: /,
    );
  });

  it("rejects an unknown log level", () => {
    expect(() => parseGarretdArgs(["--log-level", "loud"])).toThrow(
      "invalid --log-level 'loud'; valid levels: debug, info, warn, error",
    );
  });
});
