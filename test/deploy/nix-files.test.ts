/**
 * The flake and the NixOS module, as far as Debian's Nix can check them offline (there is no
 * nixpkgs here): every file parses, and the module, evaluated with a small stand-in for nixpkgs'
 * `lib`, declares exactly the options of nixpkgs' `services.atticd` with the same defaults, and
 * turns them into a service with atticd's state directory, the chosen mode and the checked
 * server.toml. Building the package and running the module in a NixOS VM are not exercised.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";
import { describeWithNix } from "../support/nix.ts";

const root = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));

const STUB_LIB = `
  let
    lib = rec {
      types = {
        str = "str"; path = "path"; package = "package";
        nullOr = t: "nullOr " + t;
        enum = values: { enum = values; };
      };
      mkOption = o: o;
      mkEnableOption = name: { type = "bool"; default = false; description = name; };
      literalExpression = text: text;
      mkIf = cond: value: if cond then value else { };
      mkDefault = value: value;
      optional = cond: value: if cond then [ value ] else [ ];
      optionalString = cond: value: if cond then value else "";
      hasPrefix = prefix: s: builtins.substring 0 (builtins.stringLength prefix) s == prefix;
      hasInfix = infix: s: builtins.length (builtins.split infix s) > 1;
      any = builtins.any;
      getExe' = pkg: name: "\${pkg}/bin/\${name}";
    };
    pkgs = {
      garret = "/nix/store/garret";
      openssl = "/nix/store/openssl";
      formats.toml = { }: { type = "toml"; generate = name: value: "/nix/store/generated-\${name}"; };
      runCommand = name: attrs: script: "/nix/store/\${name}";
      writeShellScriptBin = name: text: { inherit name; };
    };
    settings = { storage = { type = "local"; path = "/var/lib/atticd/storage"; }; };
    config = {
      services.postgresql.enable = false;
      services.garretd = {
        enable = true; package = pkgs.garret; environmentFile = "/run/secrets/garretd";
        user = "atticd"; group = "atticd"; mode = "api-server"; inherit settings;
      };
    };
    module = import ${JSON.stringify(root("nix/module.nix"))} { inherit lib pkgs config; };
    service = module.config.content.systemd.services.garretd or module.config.systemd.services.garretd;
    opts = module.options.services.garretd;
  in {
    options = builtins.attrNames opts;
    defaults = { inherit (opts) user group mode; };
    modes = opts.mode.type.enum;
    defaultSettings = module.config.services.garretd.settings;
    execStart = service.serviceConfig.ExecStart;
    stateDirectory = service.serviceConfig.StateDirectory;
    environmentFile = service.serviceConfig.EnvironmentFile;
    dataDir = service.environment.GARRET_DATA_DIR;
    assertions = map (a: a.assertion) module.config.assertions;
  }`;

describeWithNix("flake.nix and the NixOS module services.garretd", () => {
  it("parse", () => {
    for (const file of ["flake.nix", "nix/package.nix", "nix/module.nix"]) {
      expect(
        () => execFileSync("nix-instantiate", ["--parse", root(file)], { stdio: "pipe" }),
        file,
      ).not.toThrow();
    }
  });

  it("take atticd's options with its defaults and state directory", () => {
    const out = execFileSync("nix-instantiate", ["--eval", "--strict", "--json", "-E", STUB_LIB], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
    const r = JSON.parse(out) as {
      options: string[];
      defaults: Record<string, { default: string }>;
      modes: string[];
      defaultSettings: {
        chunking: Record<string, number>;
        database: { url: string };
        storage: { type: string; path: string };
      };
      execStart: string;
      stateDirectory: string;
      environmentFile: { content: string } | string;
      dataDir: string;
      assertions: boolean[];
    };
    // nixpkgs' services.atticd options, one for one.
    expect(r.options).toEqual(["enable", "environmentFile", "group", "mode", "package", "settings", "user"]);
    expect(r.defaults.user?.default).toBe("atticd");
    expect(r.defaults.group?.default).toBe("atticd");
    expect(r.defaults.mode?.default).toBe("monolithic");
    expect(r.modes).toEqual(["monolithic", "api-server", "garbage-collector"]);
    expect(r.defaultSettings.chunking).toEqual({
      "nar-size-threshold": 65536,
      "min-size": 16384,
      "avg-size": 65536,
      "max-size": 262144,
    });
    // atticd's module default: its server.db is served in place.
    expect(r.defaultSettings.database).toEqual({ url: "sqlite:///var/lib/atticd/server.db?mode=rwc" });
    expect(r.defaultSettings.storage).toEqual({ type: "local", path: "/var/lib/atticd/storage" });
    expect(r.stateDirectory).toBe("atticd");
    expect(r.dataDir).toBe("/var/lib/atticd");
    expect(r.execStart).toBe(
      "/nix/store/garret/bin/garretd -f /nix/store/checked-garret-server.toml --mode api-server",
    );
    expect(JSON.stringify(r.environmentFile)).toContain("/run/secrets/garretd");
    expect(r.assertions).toEqual([true]);
  });
});
