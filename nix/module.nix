# services.garretd: garret as a NixOS service, with the options of nixpkgs' services.atticd
# (enable, package, environmentFile, user, group, settings, mode) and the same defaults and state
# directory, so an atticd deployment's `services.atticd = { … };` block works renamed to
# `services.garretd`. `settings` is rendered to server.toml and checked with
# `garretd --mode check-config` at build time; secrets come from `environmentFile`
# (ATTIC_SERVER_TOKEN_RS256_SECRET_BASE64, ATTIC_SERVER_DATABASE_URL, AWS_* ...).
# The database defaults to atticd's sqlite:///var/lib/atticd/server.db?mode=rwc, so an atticd
# deployment on the module's defaults keeps its server.db (garret adopts it in place).
# Differences: Node's JIT needs writable+executable memory (MemoryDenyWriteExecute is off); the
# admin command is `garretd-garretadm`.
{
  lib,
  pkgs,
  config,
  ...
}:

let
  inherit (lib) types;
  cfg = config.services.garretd;
  format = pkgs.formats.toml { };

  configFile = format.generate "server.toml" cfg.settings;
  checkedConfigFile =
    pkgs.runCommand "checked-garret-server.toml" { nativeBuildInputs = [ pkgs.openssl ]; }
      ''
        export HOME=$TMPDIR
        export ATTIC_SERVER_TOKEN_RS256_SECRET_BASE64="$(openssl genrsa -traditional 2048 | base64 -w0)"
        ${lib.getExe' cfg.package "garretd"} --mode check-config -f ${configFile}
        cp ${configFile} $out
      '';

  stateDir = "/var/lib/atticd";

  garretadm = pkgs.writeShellScriptBin "garretd-garretadm" ''
    exec systemd-run --quiet --pipe --pty --same-dir --wait --collect --service-type=exec \
      ${lib.optionalString (cfg.environmentFile != null) "--property=EnvironmentFile=${cfg.environmentFile}"} \
      --property=DynamicUser=yes --property=User=${cfg.user} --property=Group=${cfg.group} \
      --property=StateDirectory=atticd \
      -- ${lib.getExe' cfg.package "garretadm"} -f ${checkedConfigFile} "$@"
  '';

  localPostgres =
    let
      url = cfg.settings.database.url or "";
    in
    config.services.postgresql.enable
    && lib.hasPrefix "postgresql://" url
    && lib.any (s: lib.hasInfix s url) [
      "localhost"
      "127.0.0.1"
      "/run/postgresql"
    ];
in
{
  options.services.garretd = {
    enable = lib.mkEnableOption "garretd, a Nix binary cache server compatible with atticd";

    package = lib.mkOption {
      type = types.package;
      default = pkgs.garret;
      defaultText = lib.literalExpression "pkgs.garret";
      description = "The garret package (from this flake's overlay).";
    };

    environmentFile = lib.mkOption {
      type = types.nullOr types.path;
      default = null;
      description = ''
        An EnvironmentFile with the secrets, as for atticd: ATTIC_SERVER_TOKEN_RS256_SECRET_BASE64
        (`openssl genrsa -traditional 4096 | base64 -w0`), and optionally ATTIC_SERVER_DATABASE_URL
        and S3 credentials.
      '';
    };

    user = lib.mkOption {
      type = types.str;
      default = "atticd";
      description = "The user garretd runs as (a dynamic user).";
    };

    group = lib.mkOption {
      type = types.str;
      default = "atticd";
      description = "The group garretd runs as.";
    };

    settings = lib.mkOption {
      type = format.type;
      default = { };
      description = ''
        server.toml as Nix (atticd's format; see README "Configuration reference"). The defaults
        fill in chunking, the database and local storage under the state directory.
      '';
    };

    mode = lib.mkOption {
      type = types.enum [
        "monolithic"
        "api-server"
        "garbage-collector"
      ];
      default = "monolithic";
      description = ''
        "monolithic" migrates, collects garbage and serves (one node); "api-server" only serves and
        "garbage-collector" only collects (scaled out with PostgreSQL).
      '';
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = cfg.environmentFile != null;
        message = ''
          services.garretd.environmentFile is not set. Create a file containing
            ATTIC_SERVER_TOKEN_RS256_SECRET_BASE64="<output of: openssl genrsa -traditional 4096 | base64 -w0>"
          and set services.garretd.environmentFile to its absolute path (quoted, so it stays out of the store).
        '';
      }
    ];

    services.garretd.settings = {
      chunking = lib.mkDefault {
        nar-size-threshold = 65536;
        min-size = 16384;
        avg-size = 65536;
        max-size = 262144;
      };
      database.url = lib.mkDefault "sqlite://${stateDir}/server.db?mode=rwc";
      storage = lib.mkDefault {
        type = "local";
        path = "${stateDir}/storage";
      };
    };

    systemd.services.garretd = {
      description = "garret Nix binary cache server";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ] ++ lib.optional localPostgres "postgresql.service";
      requires = lib.optional localPostgres "postgresql.service";
      environment.GARRET_DATA_DIR = stateDir;

      serviceConfig = {
        ExecStart = "${lib.getExe' cfg.package "garretd"} -f ${checkedConfigFile} --mode ${cfg.mode}";
        EnvironmentFile = lib.mkIf (cfg.environmentFile != null) cfg.environmentFile;
        StateDirectory = "atticd";
        StateDirectoryMode = "0700";
        DynamicUser = true;
        User = cfg.user;
        Group = cfg.group;
        Restart = "on-failure";
        RestartSec = 10;

        CapabilityBoundingSet = [ "" ];
        DevicePolicy = "closed";
        LockPersonality = true;
        MemoryDenyWriteExecute = false;
        NoNewPrivileges = true;
        PrivateDevices = true;
        PrivateTmp = true;
        PrivateUsers = true;
        ProtectClock = true;
        ProtectControlGroups = true;
        ProtectHome = true;
        ProtectHostname = true;
        ProtectKernelLogs = true;
        ProtectKernelModules = true;
        ProtectKernelTunables = true;
        ProtectSystem = "strict";
        ReadWritePaths =
          let
            path = cfg.settings.storage.path or "";
          in
          lib.optional (
            (cfg.settings.storage.type or "") == "local" && !(lib.hasPrefix "${stateDir}/" path)
          ) path;
        RemoveIPC = true;
        RestrictAddressFamilies = [
          "AF_INET"
          "AF_INET6"
          "AF_UNIX"
        ];
        RestrictNamespaces = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        SystemCallArchitectures = "native";
        UMask = "0077";
      };
    };

    environment.systemPackages = [ garretadm ];
  };
}
