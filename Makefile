# The two commands a newcomer needs: `make demo` and `make test`.
# Both install a supported Node.js and pnpm from the npm registry on first use (scripts/toolchain.sh).
RUN := scripts/with-toolchain

.PHONY: demo test unit lint typecheck bench bench-hbone bench-ca setup clean

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

bench: bench-ca bench-hbone

bench-ca:
	@$(RUN) node bench/ca.ts

bench-hbone:
	@$(RUN) bash bench/hbone.sh
