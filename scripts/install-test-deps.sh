#!/usr/bin/env bash
# Installs the Debian tools the root-only tests need (network namespaces, NAT rules, dropping
# privileges), and only those that are missing. Idempotent; does nothing when not root (those
# tests then fail with a message saying they need root).
set -euo pipefail

[ "$(id -u)" = 0 ] || exit 0

# command → Debian package
declare -A tools=([ip]=iproute2 [iptables]=iptables [setpriv]=util-linux [nsenter]=util-linux [nft]=nftables [tcpdump]=tcpdump)
missing=()
for cmd in "${!tools[@]}"; do
  command -v "$cmd" > /dev/null 2>&1 || missing+=("${tools[$cmd]}")
done
# The CNI tests run Debian's reference plugins (bridge, host-local, loopback) from /usr/lib/cni.
[ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
[ "${#missing[@]}" = 0 ] && exit 0

echo "[test-deps] installing ${missing[*]} (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq > /dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
