#!/usr/bin/env bash
# ztunnel benchmark entry point: make bench-ztunnel (explicit topology, no root) and
# make bench-capture (--topology inpod: the kernel path, root). Installs the native load tools
# (cached), builds the ztunnel bundle when a source changed, raises the open-file limit (5,000 idle
# tunneled connections), then runs the orchestrator with Node 24. Arguments go to the orchestrator:
# --topology explicit|inpod, --quick, --rounds N, --no-haproxy, --out FILE.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if ! command -v node > /dev/null 2>&1 || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 24 ]; then
  source scripts/toolchain.sh
fi
BIN="$(bash scripts/install-bench-tools.sh)"
node packages/core/src/bin/build-bundles.ts
export PATH="$BIN:$PATH"
ulimit -n "$(ulimit -Hn)" 2> /dev/null || true
exec node bench/ztunnel.ts "$@"
