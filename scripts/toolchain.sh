#!/usr/bin/env bash
# Ensures a supported Node.js (24 LTS) and pnpm, installed only from the npm registry,
# then installs the workspace's packages. Idempotent; everything slow is cached under
# $AMBIT_CACHE (default ~/.cache/ambit), so later runs are offline.
#
#   source scripts/toolchain.sh     # puts node/pnpm on PATH for the calling shell
#   bash scripts/toolchain.sh       # same, for a one-off set-up
set -euo pipefail

AMBIT_ROOT="${AMBIT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
AMBIT_CACHE="${AMBIT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ambit}"
NODE_VERSION="$(tr -d '[:space:]' < "$AMBIT_ROOT/.node-version")"
NODE_MAJOR="${NODE_VERSION%%.*}"
PNPM_VERSION="$(sed -n 's/.*"packageManager": *"pnpm@\([^"]*\)".*/\1/p' "$AMBIT_ROOT/package.json")"

log() { printf '[toolchain] %s\n' "$*" >&2; }

node_platform_pkg() {
  local arch
  case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) log "unsupported CPU architecture $(uname -m)"; return 1 ;;
  esac
  echo "node-linux-${arch}"
}

ensure_node() {
  local sys_major=0
  if command -v node > /dev/null 2>&1; then
    sys_major="$(node -p 'process.versions.node.split(".")[0]' 2> /dev/null || echo 0)"
  fi
  if [ "$sys_major" -ge "$NODE_MAJOR" ]; then
    AMBIT_NODE_DIR="$(dirname "$(command -v node)")/.."
    return
  fi
  local pkg dir
  pkg="$(node_platform_pkg)"
  dir="$AMBIT_CACHE/node-$NODE_VERSION"
  if [ ! -x "$dir/node_modules/$pkg/bin/node" ]; then
    log "system Node is ${sys_major:-absent}; installing Node $NODE_VERSION ($pkg) from the npm registry into $dir"
    mkdir -p "$dir"
    # The platform package is what the `node` package's installer fetches; it carries
    # bin/node and include/node (headers for node-gyp). No install scripts needed.
    npm install --prefix "$dir" --no-save --no-package-lock --ignore-scripts --no-audit --no-fund \
      "$pkg@$NODE_VERSION" >&2
  fi
  AMBIT_NODE_DIR="$dir/node_modules/$pkg"
  export PATH="$AMBIT_NODE_DIR/bin:$PATH"
}

ensure_pnpm() {
  local dir="$AMBIT_CACHE/pnpm-$PNPM_VERSION"
  if [ ! -x "$dir/node_modules/.bin/pnpm" ]; then
    log "installing pnpm $PNPM_VERSION from the npm registry into $dir"
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-save --no-package-lock --no-audit --no-fund "pnpm@$PNPM_VERSION" >&2
  fi
  export PATH="$dir/node_modules/.bin:$PATH"
}

ensure_deps() {
  local stamp="$AMBIT_ROOT/node_modules/.ambit-install-stamp"
  local want
  want="$(cat "$AMBIT_ROOT/pnpm-lock.yaml" "$AMBIT_ROOT/.node-version" 2> /dev/null | sha256sum | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return
  fi
  log "installing workspace packages (pnpm install)"
  (cd "$AMBIT_ROOT" && pnpm install --frozen-lockfile --prefer-offline --store-dir "$AMBIT_CACHE/pnpm-store" >&2)
  echo "$want" > "$stamp"
}

ensure_node
ensure_pnpm
export npm_config_nodedir="$AMBIT_NODE_DIR"
if [ "${AMBIT_SKIP_DEPS:-0}" != 1 ]; then
  ensure_deps
fi
export AMBIT_ROOT AMBIT_CACHE AMBIT_NODE_DIR
