#!/bin/sh
# Installs the Nix client the Nix test tier drives: Debian's nix-bin (Nix 2.8), used single-user
# as root with no daemon (test/support/nix.ts sets NIX_REMOTE=local and its own NIX_CONFIG).
# --no-install-recommends keeps out nix-setup-systemd (daemon units, nixbld users), which the
# tests don't use. Idempotent: when nix-bin (or any nix on PATH) is already there, apt is not
# touched at all.
# Needs root (or passwordless sudo). Exits non-zero if Nix cannot be installed or does not run.
set -eu

if [ "$(id -u)" -eq 0 ]; then
  as_root() { "$@"; }
else
  as_root() { sudo "$@"; }
fi

if ! command -v nix-store >/dev/null 2>&1 &&
  ! dpkg-query -W -f='${Status}' nix-bin 2>/dev/null | grep -q '^install ok installed$'; then
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nix-bin
fi

# Root's default build-users-group (nixbld) does not exist here; the tests set it empty too.
NIX_CONFIG='build-users-group =' nix --version
NIX_CONFIG='build-users-group =' nix-store --version >/dev/null
