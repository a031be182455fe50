# The two commands a newcomer needs: `make demo` and `make test`.
# Both install a supported Node.js and pnpm from the npm registry on first use (scripts/toolchain.sh).
RUN := scripts/with-toolchain

.PHONY: demo test unit lint typecheck build bench bench-hbone bench-ca setup clean bench-ztunnel bench-capture

setup:
	@$(RUN) true

demo:
	@$(RUN) pnpm -s demo

test:
	@scripts/install-test-deps.sh && $(RUN) pnpm -s test

unit:
	@$(RUN) pnpm -s test:unit

lint:
	@$(RUN) pnpm -s lint

typecheck:
	@$(RUN) pnpm -s typecheck

# Bundled JavaScript of the binaries (build/hbone-pair.mjs, build/ztunnel.mjs); cached on a source hash.
build:
	@$(RUN) node packages/core/src/bin/build-bundles.ts

bench: bench-ca bench-hbone

bench-ca:
	@$(RUN) node bench/ca.ts

bench-hbone:
	@$(RUN) bash bench/hbone.sh

# The controller against a real API server (issue 6): 1,000 pods, 200 services, the controller as
# its own process, 20 real config-stream clients; AMBIT_KUBECONFIG=<file> reuses a running one.
.PHONY: bench-controller
bench-controller:
	@$(RUN) node bench/controller.ts

# ztunnel end to end (issue 3): two ztunnels on loopback, load through node-a's SOCKS5 port, against
# direct and the haproxy mTLS pair; markdown block in bench/results/. No root.
bench-ztunnel:
	@$(RUN) bash bench/ztunnel.sh

# The kernel path (issue 4, root): pods in netns, nftables REDIRECT, in-pod ztunnels; against the
# same pods without the mesh; plus pod enrolment latency.
bench-capture:
	@$(RUN) bash bench/ztunnel.sh --topology inpod

# End-to-end suite on a real cluster (issue 5). AMBIT_E2E_PROVIDER=local (default: built from Go
# modules and run on this machine, needs root) or kind (Docker). See e2e/README.md.
.PHONY: e2e e2e-up e2e-down cluster-demo

e2e:
	@e2e/scripts/e2e.sh

e2e-up:
	@$(RUN) node e2e/src/cli.ts up

e2e-down:
	@$(RUN) node e2e/src/cli.ts down

# Ambit on the e2e cluster as a user meets it: cluster up, helm install from this checkout, an
# ambient namespace with a client and a server on two nodes; leaves the cluster up (e2e-down).
cluster-demo:
	@if [ "$${AMBIT_E2E_PROVIDER:-local}" = local ]; then e2e/scripts/install-deps.sh; fi
	@$(RUN) node e2e/src/mesh-demo.ts

# The Helm chart (issue 8): rendered-manifest tests and helm lint (charts/ambit/tests), and the
# chart's CRDs (charts/ambit/files/crds, rendered by templates/crds.yaml so helm also upgrades and
# deletes them) copied from their source of truth, packages/controller/crds.
.PHONY: chart-test chart-crds images
chart-test:
	@$(RUN) pnpm exec vitest run --config charts/ambit/tests/vitest.config.ts

chart-crds:
	@mkdir -p charts/ambit/files/crds && rm -f charts/ambit/files/crds/*.yaml
	@cp packages/controller/crds/*.yaml charts/ambit/files/crds/

# Container images without Docker (umoci), imported into the local cluster's nodes when it runs:
# localhost/ambit/{controller,ztunnel,node-agent,waypoint}:<chart appVersion>. images/build-local.sh.
images:
	@$(RUN) bash images/build-local.sh --import

chart-test-k8s:
	@$(RUN) pnpm exec vitest run --config charts/ambit/tests/vitest.k8s.config.ts

# Waypoint benchmark (issue 7): direct, L4 (two ztunnels), L4 + waypoint, haproxy http mode; no root.
.PHONY: bench-waypoint
bench-waypoint:
	@$(RUN) node packages/core/src/bin/build-bundles.ts
	@$(RUN) bash -c 'PATH="$$(bash scripts/install-bench-tools.sh):$$PATH"; ulimit -n "$$(ulimit -Hn)" 2>/dev/null || true; exec node bench/waypoint.ts $(ARGS)'
