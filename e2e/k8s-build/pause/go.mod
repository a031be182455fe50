// The local cluster's pod sandbox ("pause") program, built by e2e/scripts/images.sh.
module ambit.dev/e2e/k8s-build/pause

go 1.26
