#!/usr/bin/env bash
# The set-up contract as a new user meets it: a fresh clone of the committed tree and a fresh HOME (no
# npm cache, no node-gyp header cache, no config), with nothing on the network but the npm registry.
# `npm ci` must need no native build (node-gyp is pointed at a directory that does not exist, so a
# package that tried to compile would fail here instead of downloading Node's headers), and
# `npm start` must bring garretd up on the embedded default, from the bundle npm ci built, and print
# the login line.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill -- "-$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

git clone -q --no-local "$repo" "$work/garret"
mkdir -m 700 "$work/home"
export HOME="$work/home" npm_config_nodedir="$work/no-node-headers"
unset XDG_CONFIG_HOME XDG_DATA_HOME XDG_CACHE_HOME GARRET_DATA_DIR ATTIC_SERVER_CONFIG_BASE64 ATTIC_SERVER_DATABASE_URL
cd "$work/garret"
npm ci --no-audit --no-fund
# Prebuilt binaries that npm picks per platform (esbuild, rolldown: dev tools) are fine; a package
# with an install script or an addon built in place is what fails behind a proxy or offline mirror.
built="$(find node_modules -path '*/build/Release/*.node' -type f)"
scripted="$(node -e 'const l=require("./package-lock.json");for(const[k,v]of Object.entries(l.packages))if(v.hasInstallScript)console.log(k)')"
if [ -n "$built$scripted" ]; then
  echo "fresh clone: packages that build or run install scripts at npm ci:" >&2
  echo "$built$scripted" >&2
  exit 1
fi

# The prepare script built garretd's bundle from this tree, current, so that npm start runs it.
if ! node --input-type=module -e 'import { currentBundle } from "@garret/cli/bundle"; process.exit(currentBundle("garretd") ? 0 : 1)'; then
  echo "fresh clone: npm ci did not build a current bundle of garretd" >&2
  exit 1
fi

port="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
setsid npm start -- --listen "127.0.0.1:$port" >"$work/out.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  if grep -q "attic login local http://localhost:$port " "$work/out.log" &&
    node -e 'fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' \
      "http://127.0.0.1:$port/healthz"; then
    echo "fresh clone: npm ci installed no native addon and built garretd's bundle; npm start served on port $port and printed the login line"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then break; fi
  sleep 0.2
done
echo "fresh clone: npm start did not come up; its output:" >&2
cat "$work/out.log" >&2
exit 1
