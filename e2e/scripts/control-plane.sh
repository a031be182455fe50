#!/usr/bin/env bash
# The Kubernetes control plane as local processes: etcd (data on its own tmpfs), kube-apiserver
# (RBAC + Node authorization, the default admission chain plus NodeRestriction, ServiceAccount
# token issuance so TokenRequest/TokenReview work), kube-controller-manager and kube-scheduler.
#
#   control-plane.sh up      start what is not running, wait until /readyz says ok (idempotent)
#   control-plane.sh down    stop by pid, unmount etcd's tmpfs (idempotent; logs are kept)
#   control-plane.sh status  exit 0 when the API server is ready
#
# Writes $E2E_DIR/admin.kubeconfig (cluster-admin). See lib.sh for the environment it reads.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$E2E_SCRIPTS/pki.sh"

ETCD_DATA=$E2E_DIR/etcd
CG=$CG_ROOT/control-plane

api_ready() { kubectl_admin get --raw /readyz; }

up() {
  K8S_BIN=$(bin_dir kubernetes)
  local etcd_bin
  etcd_bin=$(bin_dir etcd)
  mkdir -p "$E2E_DIR" "$RUN" "$LOGS"
  # The serving certificate names the address; a state directory reused on another one gets a new one.
  if [ "$(cat "$PKI/apiserver.addr" 2> /dev/null)" != "$ADDR" ]; then
    rm -f "$PKI/apiserver.crt"
  fi
  pki_init
  echo "$ADDR" > "$PKI/apiserver.addr"
  local server="https://$ADDR:$API_PORT"
  kubeconfig "$KUBECONFIG_ADMIN" admin "$server"
  kubeconfig "$E2E_DIR/controller-manager.kubeconfig" controller-manager "$server"
  kubeconfig "$E2E_DIR/scheduler.kubeconfig" scheduler "$server"

  [ "$(id -u)" = 0 ] && cg_make "$CG"
  if ! alive etcd; then
    mkdir -p "$ETCD_DATA"
    if [ "$(id -u)" = 0 ]; then
      mountpoint -q "$ETCD_DATA" || mount -t tmpfs -o size=1g,mode=700 ambit-e2e-etcd "$ETCD_DATA"
    fi
    local peer="http://127.0.0.1:$ETCD_PEER_PORT" client="http://127.0.0.1:$ETCD_CLIENT_PORT"
    start etcd "$E2E_SCRIPTS/exec-in.sh" "$CG" - "$etcd_bin/etcd" --name default --data-dir "$ETCD_DATA/data" \
      --listen-client-urls "$client" --advertise-client-urls "$client" \
      --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
      --initial-cluster "default=$peer" --unsafe-no-fsync --log-level warn
  fi
  wait_for 30 etcd curl -sf "http://127.0.0.1:$ETCD_CLIENT_PORT/health"

  start kube-apiserver "$E2E_SCRIPTS/exec-in.sh" "$CG" - "$K8S_BIN/kube-apiserver" \
    --bind-address "$ADDR" --advertise-address "$ADDR" --secure-port "$API_PORT" \
    --etcd-servers "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --client-ca-file "$PKI/ca.crt" \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --service-account-issuer "https://kubernetes.default.svc.$CLUSTER_DOMAIN" \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" \
    --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types InternalIP,Hostname \
    --requestheader-client-ca-file "$PKI/front-proxy-ca.crt" --requestheader-allowed-names front-proxy-client \
    --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
    --requestheader-extra-headers-prefix X-Remote-Extra- \
    --proxy-client-cert-file "$PKI/front-proxy-client.crt" --proxy-client-key-file "$PKI/front-proxy-client.key" \
    --allow-privileged=true --profiling=false --v=1
  wait_for 90 "the API server's /readyz" api_ready

  start kube-controller-manager "$E2E_SCRIPTS/exec-in.sh" "$CG" - "$K8S_BIN/kube-controller-manager" \
    --kubeconfig "$E2E_DIR/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$E2E_DIR/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$E2E_DIR/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$KCM_PORT" --leader-elect=false \
    --use-service-account-credentials=true \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" --cluster-cidr "$CLUSTER_CIDR" \
    --allocate-node-cidrs=false --profiling=false --v=1
  start kube-scheduler "$E2E_SCRIPTS/exec-in.sh" "$CG" - "$K8S_BIN/kube-scheduler" \
    --kubeconfig "$E2E_DIR/scheduler.kubeconfig" \
    --authentication-kubeconfig "$E2E_DIR/scheduler.kubeconfig" \
    --authorization-kubeconfig "$E2E_DIR/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$SCHED_PORT" --leader-elect=false --profiling=false --v=1
  wait_for 60 kube-controller-manager curl -skf "https://127.0.0.1:$KCM_PORT/healthz"
  wait_for 60 kube-scheduler curl -skf "https://127.0.0.1:$SCHED_PORT/healthz"
  # The controller-manager makes the default ServiceAccount: the first sign it is working.
  wait_for 60 "the default ServiceAccount" kubectl_admin -n default get serviceaccount default
  log "control plane ready at $server (kubeconfig $KUBECONFIG_ADMIN, logs $LOGS)"
}

down() {
  stop kube-scheduler
  stop kube-controller-manager
  stop kube-apiserver
  stop etcd
  if mountpoint -q "$ETCD_DATA" 2> /dev/null; then
    umount "$ETCD_DATA"
  fi
  rm -rf "$ETCD_DATA"
  if [ "$(id -u)" = 0 ]; then
    cg_kill "$CG"
    local h
    for h in $CG_HIERARCHIES; do rmdir "/sys/fs/cgroup/$h/$CG_ROOT" 2> /dev/null || true; done
  fi
}

status() {
  K8S_BIN=$(bin_dir kubernetes)
  api_ready > /dev/null 2>&1
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) die "usage: control-plane.sh up|down|status" ;;
esac
