#!/usr/bin/env bash
# Builds the local cluster's binaries from the Go module proxy and caches them by version:
#   ${AMBIT_CACHE:-~/.cache/ambit}/k8s/<name>-<version>/bin/...
# Versions come from the wrapper modules in e2e/k8s-build/*/go.mod (the only committed inputs).
# Each component is built once; a later run finds it and does nothing. Prints the bin directories.
#
#   build-k8s.sh [component...]          components: kubernetes etcd helm coredns containerd
#                                        gateway-api (default: all)
#   build-k8s.sh --where [component...]  print the directories only, build nothing
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mods="$here/k8s-build"
cache="${AMBIT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ambit}/k8s"
export PATH="/usr/local/go/bin:$PATH"
export GOFLAGS="-buildvcs=false"
export GOTOOLCHAIN=local
export CGO_ENABLED="${CGO_ENABLED:-0}"
# The machine is shared: build at low priority and two packages at a time.
gobuild() { nice -n 10 go build -p 2 -trimpath "$@"; }

log() { echo "[build-k8s] $*" >&2; }

# version <wrapper dir> <module>: the version the wrapper pins.
version() { (cd "$mods/$1" && go list -m -f '{{.Version}}' "$2"); }

# have <dir> <binary...>: true when every binary already exists (or when only locating). When one
# is missing, takes the machine-wide build lock first (a second caller waits, then finds them).
locked=
have() {
  [ -n "$where" ] && return 0
  local dir=$1 b
  shift
  for b in "$@"; do
    [ -x "$dir/$b" ] && continue
    if [ -z "$locked" ]; then
      exec 9> "$cache/.build.lock"
      flock 9
      locked=1
      have "$dir" "$@"
      return
    fi
    return 1
  done
}

build_kubernetes() {
  local v out date major minor
  v=$(version kubernetes k8s.io/kubernetes)
  out="$cache/kubernetes-$v/bin"
  local bins=(kube-apiserver kubectl kube-controller-manager kube-scheduler kubelet kube-proxy)
  if ! have "$out" "${bins[@]}"; then
    mkdir -p "$out"
    major=${v#v}
    minor=${major#*.}
    minor=${minor%%.*}
    major=${major%%.*}
    # The same stamps hack/lib/version.sh sets, so /version and `kubectl version` report $v.
    date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    local pkg=k8s.io/component-base/version
    local ld="-s -w -X $pkg.gitVersion=$v -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date -X $pkg.gitCommit=module-$v"
    ld+=" -X k8s.io/client-go/pkg/version.gitVersion=$v -X k8s.io/client-go/pkg/version.gitMajor=$major"
    ld+=" -X k8s.io/client-go/pkg/version.gitMinor=$minor"
    for b in "${bins[@]}"; do
      have "$out" "$b" && continue
      log "kubernetes $v: building $b"
      (cd "$mods/kubernetes" && gobuild -ldflags "$ld" -o "$out/$b.tmp" "k8s.io/kubernetes/cmd/$b")
      mv "$out/$b.tmp" "$out/$b"
    done
  fi
  echo "$out"
}

build_etcd() {
  local v out
  v=$(version etcd go.etcd.io/etcd/server/v3)
  out="$cache/etcd-$v/bin"
  if ! have "$out" etcd; then
    mkdir -p "$out"
    log "etcd $v: building"
    (cd "$mods/etcd" && gobuild -ldflags "-s -w" -o "$out/etcd.tmp" go.etcd.io/etcd/server/v3)
    mv "$out/etcd.tmp" "$out/etcd"
  fi
  echo "$out"
}

build_helm() {
  local v out
  v=$(version helm helm.sh/helm/v3)
  out="$cache/helm-$v/bin"
  if ! have "$out" helm; then
    mkdir -p "$out"
    log "helm $v: building"
    local ld="-s -w -X helm.sh/helm/v3/internal/version.version=$v"
    ld+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
    (cd "$mods/helm" && gobuild -ldflags "$ld" -o "$out/helm.tmp" helm.sh/helm/v3/cmd/helm)
    mv "$out/helm.tmp" "$out/helm"
  fi
  echo "$out"
}

build_coredns() {
  local v out
  v=$(version coredns github.com/coredns/coredns)
  out="$cache/coredns-$v/bin"
  if ! have "$out" coredns; then
    mkdir -p "$out"
    log "coredns $v: building"
    (cd "$mods/coredns" && gobuild -ldflags "-s -w" -o "$out/coredns.tmp" github.com/coredns/coredns)
    mv "$out/coredns.tmp" "$out/coredns"
  fi
  echo "$out"
}

build_containerd() {
  local v out
  v=$(version containerd github.com/containerd/containerd/v2)
  out="$cache/containerd-$v/bin"
  local bins=(containerd containerd-shim-runc-v2 ctr)
  if ! have "$out" "${bins[@]}"; then
    mkdir -p "$out"
    local ld="-s -w -X github.com/containerd/containerd/v2/version.Version=$v"
    # No btrfs (needs C headers) and no CRI-less builds: the kubelet talks CRI to it.
    local tags="no_btrfs no_devmapper no_zfs no_aufs"
    for b in "${bins[@]}"; do
      have "$out" "$b" && continue
      log "containerd $v: building $b"
      (cd "$mods/containerd" && gobuild -tags "$tags" -ldflags "$ld" -o "$out/$b.tmp" "github.com/containerd/containerd/v2/cmd/$b")
      mv "$out/$b.tmp" "$out/$b"
    done
  fi
  echo "$out"
}

# The Gateway API CRDs (standard channel), copied from the module into the cache.
build_gateway-api() {
  local v out src channel f
  v=$(version gateway-api sigs.k8s.io/gateway-api)
  out="$cache/gateway-api-$v/crds"
  # standard.yaml and experimental.yaml: the two release channels, one multi-document file each.
  # The local cluster installs the experimental one (HTTPRoute `retry`, GEP-1731, is only there).
  if [ ! -s "$out/standard.yaml" ] || [ ! -s "$out/experimental.yaml" ]; then
    mkdir -p "$out"
    src=$(cd "$mods/gateway-api" && go mod download -json sigs.k8s.io/gateway-api | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
    for channel in standard experimental; do
      [ -d "$src/config/crd/$channel" ] || {
        log "gateway-api $v: no config/crd/$channel in $src"
        exit 1
      }
      : > "$out/$channel.yaml.tmp"
      for f in "$src"/config/crd/"$channel"/gateway.networking.k8s.io_*.yaml; do
        case "$f" in *_vap_*) continue ;; esac # a ValidatingAdmissionPolicy, not a CRD
        { echo "---"; cat "$f"; } >> "$out/$channel.yaml.tmp"
      done
      mv "$out/$channel.yaml.tmp" "$out/$channel.yaml"
    done
  fi
  echo "$out"
}

where=
if [ "${1:-}" = --where ]; then
  where=1
  shift
fi
mkdir -p "$cache"

components=("$@")
[ "${#components[@]}" -gt 0 ] || components=(etcd kubernetes coredns containerd helm gateway-api)
for c in "${components[@]}"; do
  "build_$c"
done
