import { describe, expect, it } from "vitest";
import { ArgsError, GARRETD_MODES, parseGarretdArgs } from "./args.ts";

describe("parseGarretdArgs", () => {
  it("defaults to monolithic mode with nothing else set", () => {
    expect(parseGarretdArgs([])).toEqual({ mode: "monolithic", help: false });
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
    });
    expect(parseGarretdArgs(["--config", "a.toml", "--listen=[::]:1", "--mode=check-config"])).toEqual({
      configPath: "a.toml",
      listen: "[::]:1",
      mode: "check-config",
      help: false,
    });
    expect(parseGarretdArgs(["-h"]).help).toBe(true);
    expect(parseGarretdArgs(["--help"]).help).toBe(true);
  });

  it("accepts every atticd mode", () => {
    for (const mode of GARRETD_MODES) expect(parseGarretdArgs([`--mode=${mode}`]).mode).toBe(mode);
  });

  it("rejects an unknown mode, listing the valid ones", () => {
    expect(() => parseGarretdArgs(["--mode", "server"])).toThrow(ArgsError);
    expect(() => parseGarretdArgs(["--mode", "server"])).toThrow(
      'invalid --mode "server"; valid modes: monolithic, api-server, garbage-collector, garbage-collector-once, db-migrations, check-config',
    );
  });

  it("rejects unknown flags and stray arguments, listing the valid options", () => {
    for (const argv of [["--oobe"], ["-x"], ["serve"], ["--mode"]]) {
      expect(() => parseGarretdArgs(argv)).toThrow(
        /Valid options: -f\/--config PATH, -l\/--listen ADDR, --mode MODE/,
      );
    }
  });

  it("rejects an unknown log level", () => {
    expect(() => parseGarretdArgs(["--log-level", "loud"])).toThrow(
      'invalid --log-level "loud"; valid levels: debug, info, warn, error',
    );
  });
});
