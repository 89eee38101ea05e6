# Gatehouse: the two commands are `make run` and `make test`.
CARGO ?= cargo
DATA_DIR ?= data

.PHONY: run test bench fmt lint build e2e-deps

## Build and start the server on http://127.0.0.1:3000 with the sample tenant (gatehouse.toml).
run:
	$(CARGO) build --bin gatehouse
	./target/debug/gatehouse serve --config gatehouse.toml --data-dir $(DATA_DIR)

## Build everything and run every test: the Rust suites, then the fixtures. The SDK end-to-end tests need Chromium,
## tests/js's npm packages and auth0-python: e2e-deps installs what is missing (a second or two when nothing is).
test: e2e-deps
	$(CARGO) build --bins
	$(CARGO) test --workspace
	./target/debug/gatehouse test fixtures/

## Benchmarks (one release build): actions per login against Node's vm, and the token endpoint against
## node-oidc-provider under wrk (bench-deps installs both, the peer outside the repository).
bench:
	bash scripts/bench-deps.sh
	$(CARGO) build --release --bin gatehouse
	./target/release/gatehouse bench

## Install what the end-to-end tests need (Chromium, the SPA SDK and Playwright, auth0-python); CI runs it.
e2e-deps:
	bash scripts/e2e-deps.sh

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
