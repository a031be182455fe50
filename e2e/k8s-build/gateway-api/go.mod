// Pins sigs.k8s.io/gateway-api for its CRD manifests (config/crd/standard), copied by
// e2e/scripts/build-k8s.sh. Nothing here is compiled.
module ambit.dev/e2e/k8s-build/gateway-api

go 1.26

require sigs.k8s.io/gateway-api v1.6.3
