#!/usr/bin/env bash
# Cluster add-ons for the local cluster: CoreDNS (e2e/manifests/coredns.yaml, local image) and the
# Gateway API CRDs (experimental channel, a superset of the standard one: Ambit's waypoint honours
# HTTPRoute `retry`, which is experimental-only; from the sigs.k8s.io/gateway-api module). Idempotent
# (server-side apply). Waits until DNS is ready.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

K8S_BIN=$(bin_dir kubernetes)
COREDNS_IMAGE=$("$E2E_SCRIPTS/images.sh" | awk '/\/coredns:/ {print $1}')
export COREDNS_IMAGE DNS_SVC_IP CLUSTER_DOMAIN
manifest=$E2E_SCRIPTS/../manifests/coredns.yaml
crds=$("$E2E_SCRIPTS/build-k8s.sh" gateway-api | tail -1)/experimental.yaml

kubectl_admin apply --server-side --force-conflicts -f "$crds" > /dev/null
# Only the named variables are substituted (the Corefile has none of its own).
sed -e "s|\${DNS_SVC_IP}|$DNS_SVC_IP|g" -e "s|\${CLUSTER_DOMAIN}|$CLUSTER_DOMAIN|g" \
  -e "s|\${COREDNS_IMAGE}|$COREDNS_IMAGE|g" -e "s|\${MANIFEST_SHA}|$(sha256sum < "$manifest" | cut -c1-16)|g" \
  "$manifest" \
  | kubectl_admin apply --server-side --force-conflicts -f - > /dev/null
kubectl_admin wait --for condition=Established --timeout 60s crd/httproutes.gateway.networking.k8s.io > /dev/null
kubectl_admin -n kube-system rollout status deployment/coredns --timeout 120s > /dev/null
log "add-ons ready (CoreDNS $COREDNS_IMAGE at $DNS_SVC_IP, Gateway API CRDs)"
