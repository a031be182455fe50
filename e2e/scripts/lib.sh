# Shared by the e2e cluster scripts (sourced, not run). One state directory holds everything a
# cluster owns: certificates, kubeconfigs, pid files, node directories and logs ($E2E_DIR/logs).
#
# Environment (all optional):
#   AMBIT_E2E_DIR      state directory (default /tmp/ambit-e2e)
#   AMBIT_CACHE        binary cache root (default ~/.cache/ambit)
#   AMBIT_E2E_ADDR     address the API server binds and advertises (default 127.0.0.1)
#   AMBIT_E2E_PORT     API server port (default 6443)
#   AMBIT_E2E_PORT_BASE  first of the local ports etcd/controller-manager/scheduler use (default 23790)

E2E_SCRIPTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_DIR=${AMBIT_E2E_DIR:-/tmp/ambit-e2e}
CACHE=${AMBIT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ambit}
ADDR=${AMBIT_E2E_ADDR:-127.0.0.1}
API_PORT=${AMBIT_E2E_PORT:-6443}
PORT_BASE=${AMBIT_E2E_PORT_BASE:-23790}
ETCD_CLIENT_PORT=$((PORT_BASE + 0))
ETCD_PEER_PORT=$((PORT_BASE + 1))
KCM_PORT=$((PORT_BASE + 2))
SCHED_PORT=$((PORT_BASE + 3))
SERVICE_CIDR=10.96.0.0/16
CLUSTER_CIDR=10.244.0.0/16
KUBERNETES_SVC_IP=10.96.0.1
DNS_SVC_IP=10.96.0.10
CLUSTER_DOMAIN=cluster.local

PKI=$E2E_DIR/pki
RUN=$E2E_DIR/run
LOGS=$E2E_DIR/logs
KUBECONFIG_ADMIN=$E2E_DIR/admin.kubeconfig

log() { echo "[e2e $(date +%H:%M:%S)] $*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# bin_dir <component>: the cached bin directory of a component (build-k8s.sh builds it).
bin_dir() { "$E2E_SCRIPTS/build-k8s.sh" --where "$1" | tail -1; }

# alive <name>: the process recorded in $RUN/<name>.pid is still running.
alive() {
  local pid
  pid=$(cat "$RUN/$1.pid" 2> /dev/null) || return 1
  [ -n "$pid" ] && [ -d "/proc/$pid" ] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2> /dev/null
}

# start <name> <command...>: runs the command detached (own session), output to $LOGS/<name>.log,
# pid to $RUN/<name>.pid. Does nothing when it already runs (idempotent up).
start() {
  local name=$1
  shift
  if alive "$name"; then
    return 0
  fi
  mkdir -p "$RUN" "$LOGS"
  setsid "$@" >> "$LOGS/$name.log" 2>&1 < /dev/null &
  echo $! > "$RUN/$name.pid"
}

# stop <name>: TERM, then KILL after 10 s, the process in $RUN/<name>.pid (by pid only).
stop() {
  local name=$1 pid i
  pid=$(cat "$RUN/$name.pid" 2> /dev/null) || return 0
  if alive "$name"; then
    kill -TERM "$pid" 2> /dev/null || true
    for i in $(seq 1 100); do
      alive "$name" || break
      sleep 0.1
    done
    alive "$name" && kill -KILL "$pid" 2> /dev/null || true
  fi
  rm -f "$RUN/$name.pid"
}

# wait_for <seconds> <description> <command...>: retries the command until it succeeds.
wait_for() {
  local secs=$1 what=$2 i
  shift 2
  for i in $(seq 1 $((secs * 5))); do
    "$@" > /dev/null 2>&1 && return 0
    sleep 0.2
  done
  die "timed out after ${secs}s waiting for $what (logs: $LOGS)"
}

# Cgroups (v1 hierarchies) group what the cluster runs: <state dir name>/control-plane and
# <state dir name>/<node>, so teardown can find every process and memory use can be read.
CG_HIERARCHIES="cpu cpuacct cpuset memory devices freezer blkio pids systemd"
CG_ROOT=$(basename "$E2E_DIR")
cg_make() {
  local cg=$1 h
  for h in $CG_HIERARCHIES; do
    mkdir -p "/sys/fs/cgroup/$h/$cg"
  done
  # A new cpuset is empty; fill it from the parent, top down.
  local path="" part
  for part in ${cg//\// }; do
    path="$path/$part"
    [ -s "/sys/fs/cgroup/cpuset$path/cpuset.cpus" ] || cat "/sys/fs/cgroup/cpuset$(dirname "$path")/cpuset.cpus" > "/sys/fs/cgroup/cpuset$path/cpuset.cpus"
    [ -s "/sys/fs/cgroup/cpuset$path/cpuset.mems" ] || cat "/sys/fs/cgroup/cpuset$(dirname "$path")/cpuset.mems" > "/sys/fs/cgroup/cpuset$path/cpuset.mems"
  done
}
# cg_kill <cg>: SIGKILL every process in the cgroup tree (containers, shims, daemons), then remove it.
cg_kill() {
  local cg=$1 pids i h
  [ -d "/sys/fs/cgroup/pids/$cg" ] || return 0
  for i in $(seq 1 50); do
    pids=$(find "/sys/fs/cgroup/pids/$cg" -name cgroup.procs -exec cat {} + 2> /dev/null | sort -u)
    [ -z "$pids" ] && break
    # shellcheck disable=SC2086
    kill -KILL $pids 2> /dev/null || true
    sleep 0.2
  done
  for h in $CG_HIERARCHIES; do
    [ -d "/sys/fs/cgroup/$h/$cg" ] && find "/sys/fs/cgroup/$h/$cg" -depth -type d -exec rmdir {} + 2> /dev/null
  done
  return 0
}

kubectl_admin() { "$K8S_BIN/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }
