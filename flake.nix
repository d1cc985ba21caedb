# garret as a Nix flake: the `garret` package (garretd, garretadm and garret, run by Node 24 from
# the checked-in TypeScript sources; no build step) and the NixOS module `services.garretd`, which
# takes the options of nixpkgs' `services.atticd` module.
{
  description = "garret: a self-hosted, multi-tenant Nix binary cache server compatible with atticd";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      packages = forAllSystems (pkgs: rec {
        garret = pkgs.callPackage ./nix/package.nix { src = self; };
        default = garret;
      });

      nixosModules = rec {
        garretd = {
          imports = [ ./nix/module.nix ];
          nixpkgs.overlays = [ self.overlays.default ];
        };
        default = garretd;
      };

      overlays.default = final: _prev: {
        garret = final.callPackage ./nix/package.nix { src = self; };
      };
    };
}
