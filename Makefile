# The commands README.md names. Builds go to a target dir outside the clone so that repeated
# runs (and CI) reuse them.
export CARGO_TARGET_DIR ?= /var/cache/tinykube/target
export CARGO_TERM_COLOR ?= never

.PHONY: deps build test lint up down demo bench

deps:
	@bash hack/install-deps.sh

build: deps
	cargo build --workspace --bins

lint: deps
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

# Everything CI runs: dependencies, formatting, lints, then every unit and integration test
# (the integration tests start real etcd, namespaces and our binaries, so they run as root).
test: lint build
	cargo test --workspace

up: build
	@bash hack/local-up.sh

down:
	@bash hack/local-down.sh

# Runs the example web app on the cluster `make up` started and shows it serving.
demo: up
	@bash hack/demo.sh

# Benchmarks drive real binaries (etcd, apiserver, scheduler, controller-manager, runtime,
# kubelet), so their release builds come first.
bench: deps
	cargo build --release --workspace --bins
	cargo bench --workspace
