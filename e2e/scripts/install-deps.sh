#!/usr/bin/env bash
# Installs the Debian packages the local cluster needs, and only those that are missing
# (apt-get update runs only when something is). Idempotent. Needs root.
set -euo pipefail

[ "$(id -u)" = 0 ] || {
  echo "[e2e-deps] the local cluster needs root (network namespaces, mounts, cgroups)" >&2
  exit 1
}

# command or file → Debian package
declare -A need=(
  [ip]=iproute2 [iptables]=iptables [conntrack]=conntrack [nsenter]=util-linux
  [runc]=runc [umoci]=umoci [openssl]=openssl [socat]=socat [curl]=curl
  [/usr/lib/cni/ptp]=containernetworking-plugins
)
missing=()
for what in "${!need[@]}"; do
  case "$what" in
    /*) [ -e "$what" ] || missing+=("${need[$what]}") ;;
    *) command -v "$what" > /dev/null 2>&1 || missing+=("${need[$what]}") ;;
  esac
done
[ -x /usr/local/go/bin/go ] || command -v go > /dev/null 2>&1 || {
  echo "[e2e-deps] Go (1.26+) is needed at /usr/local/go/bin/go to build the cluster binaries" >&2
  exit 1
}
[ "${#missing[@]}" = 0 ] && exit 0

mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
echo "[e2e-deps] installing ${missing[*]} (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq > /dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
