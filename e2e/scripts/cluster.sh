#!/usr/bin/env bash
# The local e2e cluster, whole: builds what is missing, then network, control plane, nodes and
# add-ons (CoreDNS, Gateway API CRDs). Every step is idempotent.
#
#   cluster.sh up       bring it up and wait until every node is Ready and DNS answers
#   cluster.sh down     tear it all down (processes by pid and by cgroup, mounts, namespaces, link)
#   cluster.sh status   exit 0 when the API server is ready
#   cluster.sh env      print KUBECONFIG=... and KUBECTL=... for the running cluster
#   cluster.sh memory   peak memory (bytes) of everything the cluster ran, from its cgroups
set -euo pipefail
export AMBIT_E2E_ADDR=${AMBIT_E2E_ADDR:-10.89.0.1}
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Peak memory of each part (memory.max_usage_in_bytes: RSS plus page cache, e.g. etcd's tmpfs and
# the images' files) and the resident set now.
memory_report() {
  local base=/sys/fs/cgroup/memory/$CG_ROOT part out="" mib
  [ -r "$base/memory.max_usage_in_bytes" ] || return 1
  mib() { echo "$(($1 / 1048576))MiB"; }
  for part in "$base"/*/; do
    [ -r "$part/memory.max_usage_in_bytes" ] || continue
    out+=" $(basename "$part")=$(mib "$(cat "$part/memory.max_usage_in_bytes")")"
  done
  echo "total $(mib "$(cat "$base/memory.max_usage_in_bytes")") (peak;$out), rss now $(mib "$(awk '/^total_rss / {print $2}' "$base/memory.stat")")"
}

case "${1:-}" in
  up)
    # A fresh cluster starts with fresh logs; an `up` on a running one keeps them.
    alive kube-apiserver || rm -rf "$LOGS"
    "$E2E_SCRIPTS/install-deps.sh"
    "$E2E_SCRIPTS/build-k8s.sh" > /dev/null
    "$E2E_SCRIPTS/images.sh" > /dev/null
    "$E2E_SCRIPTS/nodes.sh" network-up
    "$E2E_SCRIPTS/control-plane.sh" up
    "$E2E_SCRIPTS/nodes.sh" up
    "$E2E_SCRIPTS/addons.sh"
    ;;
  down)
    memory_report > "$E2E_DIR/peak-memory.tmp" 2> /dev/null && mv "$E2E_DIR/peak-memory.tmp" "$E2E_DIR/peak-memory"
    rm -f "$E2E_DIR/peak-memory.tmp"
    "$E2E_SCRIPTS/nodes.sh" down
    "$E2E_SCRIPTS/control-plane.sh" down
    "$E2E_SCRIPTS/nodes.sh" network-down
    ;;
  status) "$E2E_SCRIPTS/control-plane.sh" status ;;
  env)
    echo "KUBECONFIG=$KUBECONFIG_ADMIN"
    echo "KUBECTL=$(bin_dir kubernetes)/kubectl"
    echo "HELM=$(bin_dir helm)/helm"
    ;;
  memory) memory_report ;;
  *) die "usage: cluster.sh up|down|status|env|memory" ;;
esac
