#!/usr/bin/env bash
# HBONE benchmark entry point (make bench-hbone). Installs the native load tools (cached), then
# runs the orchestrator with Node 24. Arguments go to the orchestrator: --quick, --rounds N,
# --paths direct,hbone,haproxy, --out FILE. Only 127.0.0.1 is ever targeted.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if ! command -v node > /dev/null 2>&1 || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 24 ]; then
  source scripts/toolchain.sh
fi
BIN="$(bash scripts/install-bench-tools.sh)"
# The HBONE pair runs as shipped: bundled JavaScript (build/hbone-pair.mjs), rebuilt only when a
# source changed (cached on a hash of its inputs).
node packages/core/src/bin/build-bundles.ts
export PATH="$BIN:$PATH"
# exec: signals reach the orchestrator directly; it stops every process it started, by PID.
exec node bench/hbone.ts "$@"
