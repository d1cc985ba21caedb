# The garret package: the npm workspace with its production dependencies (from package-lock.json,
# no hash to maintain: importNpmLock), copied to $out/lib/garret, and wrappers for the three
# commands that run the sources with Node 24. The tree must not live under a node_modules
# directory: Node does not strip types from files there.
{
  lib,
  buildNpmPackage,
  importNpmLock,
  makeWrapper,
  nodejs_24,
  src,
}:

buildNpmPackage {
  pname = "garret";
  version = (lib.importJSON "${src}/package.json").version;
  inherit src;
  nodejs = nodejs_24;

  npmDeps = importNpmLock { npmRoot = src; };
  npmConfigHook = importNpmLock.npmConfigHook;
  npmInstallFlags = [ "--omit=dev" ];
  dontNpmBuild = true;

  nativeBuildInputs = [ makeWrapper ];

  installPhase = ''
    runHook preInstall
    mkdir -p $out/lib/garret $out/bin
    cp -r package.json node_modules apps packages migrations $out/lib/garret/
    for bin in garretd:apps/garretd/bin/garretd.js garretadm:apps/garretd/bin/garretadm.js garret:apps/garret/bin/garret.js; do
      makeWrapper ${lib.getExe nodejs_24} $out/bin/''${bin%%:*} --add-flags $out/lib/garret/''${bin#*:}
    done
    runHook postInstall
  '';

  meta = {
    description = "A self-hosted, multi-tenant Nix binary cache server compatible with atticd";
    license = lib.licenses.asl20;
    mainProgram = "garretd";
    platforms = lib.platforms.linux;
  };
}
