#!/usr/bin/env bash
# `make e2e`: runs the e2e suite on the provider AMBIT_E2E_PROVIDER names (local by default). The
# suite's global setup builds what is missing, brings the cluster up and tears it down after.
# Prints the time to a ready cluster and, for local, the cluster's peak memory.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
provider=${AMBIT_E2E_PROVIDER:-local}
if [ "$provider" = local ]; then
  e2e/scripts/install-deps.sh
  # A stale cluster from an interrupted run would hide a broken `up`; start from nothing.
  e2e/scripts/cluster.sh down > /dev/null 2>&1 || true
fi
rm -f "${AMBIT_E2E_DIR:-/tmp/ambit-e2e}/peak-memory"
start=$(date +%s)
set +e
AMBIT_E2E_KEEP=${AMBIT_E2E_KEEP:-} scripts/with-toolchain node scripts/run-tests.ts e2e -- "$@"
rc=$?
set -e
echo "[e2e] total $(($(date +%s) - start))s, exit $rc" >&2
if [ "$provider" = local ] && [ -s "${AMBIT_E2E_DIR:-/tmp/ambit-e2e}/peak-memory" ]; then
  echo "[e2e] cluster peak memory (cgroup memory.max_usage_in_bytes, incl. page cache): $(cat "${AMBIT_E2E_DIR:-/tmp/ambit-e2e}/peak-memory")" >&2
fi
exit $rc
