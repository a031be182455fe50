#!/usr/bin/env bash
# The local cluster's network and nodes. Each node is a network namespace with its own link on
# a bridge, running containerd 2.x + runc, a real kubelet (cgroupfs driver, cgroup v1 allowed)
# and kube-proxy (iptables mode), with Debian's CNI plugins (ptp + host-local + portmap) wiring pods.
#
#   root netns ── ambit-e2e0 10.89.0.1/24 ─┐
#                                 netns ambit-e2e-net: bridge br0
#   netns ambit-e2e-node-1 ── eth0 10.89.0.11 ─┤   pods 10.244.1.0/24 (routes to the other nodes' pod ranges)
#   netns ambit-e2e-node-2 ── eth0 10.89.0.12 ─┘   pods 10.244.2.0/24
#
# The root netns gets only the veth ambit-e2e0 and routes through it to the pod and Service ranges
# (no iptables rules); pods reach the API server (10.89.0.1) through their node, which masquerades
# traffic leaving the pod network.
#
#   nodes.sh network-up    the bridge, the root link and the node namespaces (before the control
#                          plane, which listens on the root link's address)
#   nodes.sh up            each node: containerd (images imported), kubelet, kube-proxy
#   nodes.sh down          kill every process in the nodes' cgroups, unmount, remove node dirs
#   nodes.sh network-down  delete the namespaces and the root link
#   nodes.sh import <ref> <OCI archive>   load an image into every node
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$E2E_SCRIPTS/pki.sh"

NODES=${AMBIT_E2E_NODES:-2}
NET_NS=ambit-e2e-net
ROOT_LINK=ambit-e2e0
NODE_NET_PREFIX=10.89.0

node_name() { echo "e2e-node-$1"; }
node_ns() { echo "ambit-e2e-node-$1"; }
node_ip() { echo "$NODE_NET_PREFIX.$((10 + $1))"; }
node_dir() { echo "$E2E_DIR/nodes/$(node_name "$1")"; }
pod_cidr() { echo "10.244.$1.0/24"; }
in_ns() {
  local ns=$1
  shift
  ip netns exec "$ns" "$@"
}

network_up() {
  ip netns list | grep -qw "$NET_NS" || ip netns add "$NET_NS"
  in_ns "$NET_NS" ip link set lo up
  in_ns "$NET_NS" ip link show br0 > /dev/null 2>&1 || in_ns "$NET_NS" ip link add br0 type bridge
  in_ns "$NET_NS" ip link set br0 up
  if ! ip link show "$ROOT_LINK" > /dev/null 2>&1; then
    ip link add "$ROOT_LINK" type veth peer name up0 netns "$NET_NS"
    ip addr add "$ADDR/24" dev "$ROOT_LINK"
  fi
  ip link set "$ROOT_LINK" up
  in_ns "$NET_NS" ip link set up0 master br0 up
  local i j ns
  ip route replace "$SERVICE_CIDR" via "$(node_ip 1)" dev "$ROOT_LINK"
  for i in $(seq 1 "$NODES"); do
    ns=$(node_ns "$i")
    ip netns list | grep -qw "$ns" || ip netns add "$ns"
    if ! in_ns "$ns" ip link show eth0 > /dev/null 2>&1; then
      in_ns "$NET_NS" ip link add "n$i" type veth peer name eth0 netns "$ns"
      in_ns "$ns" ip addr add "$(node_ip "$i")/24" dev eth0
    fi
    in_ns "$NET_NS" ip link set "n$i" master br0 up
    in_ns "$ns" ip link set lo up
    in_ns "$ns" ip link set eth0 up
    in_ns "$ns" ip route replace default via "$ADDR"
    for j in $(seq 1 "$NODES"); do
      [ "$i" = "$j" ] && continue
      in_ns "$ns" ip route replace "$(pod_cidr "$j")" via "$(node_ip "$j")"
    done
    # The API server (root netns) reaches pods directly (aggregated APIs, kubectl port-forward
    # through the kubelet needs none) and Services through node 1's kube-proxy (admission webhooks
    # dial a Service's ClusterIP). These routes use only the root link and vanish with it.
    ip route replace "$(pod_cidr "$i")" via "$(node_ip "$i")" dev "$ROOT_LINK"
    in_ns "$ns" sysctl -qw net.ipv4.ip_forward=1
    # Pod traffic leaving the pod network (to the API server, to node addresses) takes the node's address.
    in_ns "$ns" iptables -t nat -C POSTROUTING -s "$CLUSTER_CIDR" ! -d "$CLUSTER_CIDR" -j MASQUERADE 2> /dev/null \
      || in_ns "$ns" iptables -t nat -A POSTROUTING -s "$CLUSTER_CIDR" ! -d "$CLUSTER_CIDR" -j MASQUERADE
  done
}

network_down() {
  local i
  for i in $(seq 1 "$NODES"); do
    ip netns list | grep -qw "$(node_ns "$i")" && ip netns delete "$(node_ns "$i")"
  done
  ip link show "$ROOT_LINK" > /dev/null 2>&1 && ip link delete "$ROOT_LINK"
  ip netns list | grep -qw "$NET_NS" && ip netns delete "$NET_NS"
  return 0
}

# The node's cgroup: kubelet's cgroupRoot; its own daemons go in ./system.
cg_name() { echo "$CG_ROOT/$(node_name "$1")"; }

# start_node_proc <name> <node index> <command...>: a node daemon in the node's netns and cgroup.
start_node_proc() {
  local name=$1 i=$2
  shift 2
  start "$name" "$E2E_SCRIPTS/exec-in.sh" "$(cg_name "$i")/system" "$(node_ns "$i")" "$@"
}

# put <file>: stdin into the file, but only when it differs (kube-proxy exits when its config
# file changes, so an idempotent `up` on a running node must leave the files alone).
put() {
  local tmp="$1.new"
  cat > "$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv "$tmp" "$1"; fi
}

write_node_config() {
  local i=$1 dir name ip
  dir=$(node_dir "$i")
  name=$(node_name "$i")
  ip=$(node_ip "$i")
  mkdir -p "$dir"/{containerd,cni/bin,cni/net.d,cni/ipam,kubelet,pod-logs,volume-plugins}
  # Pod network namespaces live under containerd's state dir (netns_mounts_under_state_dir). The
  # node agent and ztunnel mount that dir with HostToContainer propagation, which needs a shared
  # mount; / on this machine is private, so make the dir a shared mount of its own (before
  # containerd starts: later, a bind would stack over the pods' netns mounts). `down` unmounts it.
  local netns_dir="$dir/containerd/state/io.containerd.grpc.v1.cri/netns"
  mkdir -p "$netns_dir"
  if ! mountpoint -q "$netns_dir"; then
    mount --bind "$netns_dir" "$netns_dir"
    mount --make-shared "$netns_dir"
  fi
  put "$dir/resolv.conf" < /dev/null # pods with dnsPolicy Default get no nameserver from the machine
  put "$dir/containerd.toml" << EOF
version = 3
root = "$dir/containerd/root"
state = "$dir/containerd/state"
[grpc]
  address = "$dir/containerd.sock"
[ttrpc]
  address = "$dir/containerd.sock.ttrpc"
[plugins.'io.containerd.internal.v1.opt']
  path = "$dir/containerd/opt"
[plugins.'io.containerd.nri.v1.nri']
  disable = true
[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "$PAUSE_IMAGE"
[plugins.'io.containerd.cri.v1.runtime']
  netns_mounts_under_state_dir = true
  # This machine's capability bounding set lacks CAP_SYS_RESOURCE, so no process may lower its
  # oom_score_adj (runc failed on the sandbox's -998: "failed to update /proc/self/oom_score_adj:
  # Permission denied"). Clamp to containerd's own score instead, as rootless setups do.
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    # The node's own bin dir first: the node agent installs ambit-cni there (not into the machine's).
    bin_dirs = ["$dir/cni/bin", "/usr/lib/cni"]
    conf_dir = "$dir/cni/net.d"
    max_conf_num = 1
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = "${AMBIT_E2E_RUNC:-$(command -v runc)}"
        SystemdCgroup = false
        Root = "$dir/runc"
[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
EOF
  # The conflist is written once per node (down removes the node dir): after that it belongs to
  # the runtime and to whatever chains itself into it, as on a real node (the mesh's node agent
  # adds ambit-cni to it), so a second `up` on a running cluster must not undo that.
  [ -e "$dir/cni/net.d/10-ambit-e2e.conflist" ] || put "$dir/cni/net.d/10-ambit-e2e.conflist" << EOF
{
  "cniVersion": "1.0.0",
  "name": "ambit-e2e",
  "plugins": [
    {
      "type": "ptp",
      "ipMasq": false,
      "mtu": 1500,
      "ipam": {
        "type": "host-local",
        "dataDir": "$dir/cni/ipam",
        "ranges": [[{ "subnet": "$(pod_cidr "$i")" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
  cert "node-$i" "system:node:$name" system:nodes client
  kubeconfig "$dir/kubelet.kubeconfig" "node-$i" "https://$ADDR:$API_PORT"
  put "$dir/kubelet.yaml" << EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
cgroupRoot: /$(cg_name "$i")
failCgroupV1: false
failSwapOn: false
address: $ip
healthzBindAddress: 127.0.0.1
containerRuntimeEndpoint: unix://$dir/containerd.sock
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: $PKI/ca.crt }
authorization:
  mode: Webhook
clusterDNS: [$DNS_SVC_IP]
clusterDomain: $CLUSTER_DOMAIN
resolvConf: $dir/resolv.conf
podLogsDir: $dir/pod-logs
volumePluginDir: $dir/volume-plugins
# The images were imported, not pulled: never collect them, never evict for disk.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: { memory.available: 100Mi, nodefs.available: "1%", imagefs.available: "1%" }
protectKernelDefaults: false
serializeImagePulls: false
EOF
  put "$dir/kube-proxy.yaml" << EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: { kubeconfig: $E2E_DIR/kube-proxy.kubeconfig }
hostnameOverride: $name
clusterCIDR: $CLUSTER_CIDR
bindAddress: $ip
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: [primary]
# Leave the machine-wide conntrack sysctls alone.
conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s }
EOF
}

node_up() {
  local i=$1 dir name ns sock
  dir=$(node_dir "$i")
  name=$(node_name "$i")
  ns=$(node_ns "$i")
  sock="$dir/containerd.sock"
  write_node_config "$i"
  cg_make "$(cg_name "$i")/system"
  # The Node object is made here, before the kubelet registers, so that it carries its pod range.
  kubectl_admin get node "$name" > /dev/null 2>&1 || kubectl_admin create -f - > /dev/null << EOF
apiVersion: v1
kind: Node
metadata:
  name: $name
  labels: { kubernetes.io/hostname: $name, kubernetes.io/os: linux, kubernetes.io/arch: amd64 }
spec:
  podCIDR: $(pod_cidr "$i")
  podCIDRs: [$(pod_cidr "$i")]
EOF
  PATH="$CONTAINERD_BIN:$PATH" start_node_proc "containerd-$i" "$i" "$CONTAINERD_BIN/containerd" --config "$dir/containerd.toml"
  wait_for 30 "containerd on $name" "$CONTAINERD_BIN/ctr" -a "$sock" version
  local ref archive have
  have=$("$CONTAINERD_BIN/ctr" -a "$sock" -n k8s.io images ls -q)
  while read -r ref archive; do
    grep -qxF "$ref" <<< "$have" && continue
    "$CONTAINERD_BIN/ctr" -a "$sock" -n k8s.io images import --base-name "${ref%:*}" "$archive" > /dev/null
  done <<< "$IMAGE_LIST"
  start_node_proc "kubelet-$i" "$i" "$K8S_BIN/kubelet" --config "$dir/kubelet.yaml" \
    --kubeconfig "$dir/kubelet.kubeconfig" --root-dir "$dir/kubelet" --cert-dir "$dir/kubelet/pki" \
    --hostname-override "$name" --node-ip "$(node_ip "$i")" --v=1
  start_node_proc "kube-proxy-$i" "$i" "$K8S_BIN/kube-proxy" --config "$dir/kube-proxy.yaml" --v=1
}

node_down() {
  local i=$1 dir
  dir=$(node_dir "$i")
  stop "kube-proxy-$i"
  stop "kubelet-$i"
  # Delete every task through containerd first, so the shims exit and remove their sockets
  # (/run/containerd/s); whatever is left is killed by cgroup below.
  if alive "containerd-$i"; then
    local ctr id
    ctr="$(bin_dir containerd)/ctr"
    for id in $("$ctr" -a "$dir/containerd.sock" -n k8s.io tasks ls -q 2> /dev/null); do
      timeout 10 "$ctr" -a "$dir/containerd.sock" -n k8s.io tasks delete --force "$id" > /dev/null 2>&1 || true
    done
  fi
  stop "containerd-$i"
  cg_kill "$(cg_name "$i")"
  # Pod volumes, container root filesystems and pod network namespaces are mounts under the node dir.
  if [ -d "$dir" ]; then
    findmnt -rn -o TARGET | { grep "^$dir/" || true; } | sort -r | while read -r m; do umount -l "$m" 2> /dev/null || true; done
    rm -rf "$dir"
  fi
}

# The kubelet writes these machine-wide sysctls at start (as on any node); put them back on down.
KERNEL_TUNABLES="vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes"
save_tunables() {
  [ -s "$E2E_DIR/sysctl.saved" ] && return 0
  local k
  for k in $KERNEL_TUNABLES; do echo "$k=$(sysctl -n "$k")"; done > "$E2E_DIR/sysctl.saved"
}
restore_tunables() {
  [ -s "$E2E_DIR/sysctl.saved" ] || return 0
  sysctl -q -p "$E2E_DIR/sysctl.saved" > /dev/null || true
  rm -f "$E2E_DIR/sysctl.saved"
}

up() {
  [ "$(id -u)" = 0 ] || die "nodes need root"
  K8S_BIN=$(bin_dir kubernetes)
  CONTAINERD_BIN=$(bin_dir containerd)
  IMAGE_LIST=$("$E2E_SCRIPTS/images.sh")
  PAUSE_IMAGE=$(awk '/\/pause:/ {print $1}' <<< "$IMAGE_LIST")
  kubectl_admin get --raw /readyz > /dev/null || die "the control plane is not ready"
  mkdir -p "$E2E_DIR/nodes"
  save_tunables
  kubeconfig "$E2E_DIR/kube-proxy.kubeconfig" kube-proxy "https://$ADDR:$API_PORT"
  kubectl_admin get clusterrolebinding ambit-e2e:kube-proxy > /dev/null 2>&1 \
    || kubectl_admin create clusterrolebinding ambit-e2e:kube-proxy --clusterrole system:node-proxier --user system:kube-proxy > /dev/null
  local i
  for i in $(seq 1 "$NODES"); do node_up "$i"; done
  for i in $(seq 1 "$NODES"); do
    wait_for 120 "node $(node_name "$i") Ready" kubectl_admin wait --for condition=Ready --timeout 1s "node/$(node_name "$i")"
  done
  log "$NODES nodes ready"
}

down() {
  local i
  for i in $(seq 1 "$NODES"); do node_down "$i"; done
  restore_tunables
}

# import_image <ref> <OCI archive>: loads an image into every node's containerd. The archive's
# index names the tag; <ref> without the tag is the name it gets.
import_image() {
  local ref=$1 archive=$2 i
  CONTAINERD_BIN=$(bin_dir containerd)
  for i in $(seq 1 "$NODES"); do
    "$CONTAINERD_BIN/ctr" -a "$(node_dir "$i")/containerd.sock" -n k8s.io images import \
      --base-name "${ref%:*}" "$archive" > /dev/null
  done
}

case "${1:-}" in
  import) import_image "$2" "$3" ;;
  network-up) network_up ;;
  network-down) network_down ;;
  up) up ;;
  down) down ;;
  *) die "usage: nodes.sh network-up|up|down|network-down" ;;
esac
