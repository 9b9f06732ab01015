# Inspraak: one target per thing a person does.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Where the tests find their servers (each test makes its own database,
# exchange and queues there and removes them afterwards).
export INSPRAAK_TEST_POSTGRES_URL ?= postgres://postgres:postgres@127.0.0.1:5432/postgres
export INSPRAAK_TEST_AMQP_URL ?= amqp://guest:guest@127.0.0.1:5672/%2f

# Link with mold when it is installed: it saves most of the link time of the
# test binaries on small machines. Decided when the recipe runs, since
# `make test` may have just installed it.
CARGO := scripts/cargo

.PHONY: help run test soak lint fmt build test-services clean helm-lint bench fuzz

help:
	@echo "make run    - the whole platform in one process (release build, SQLite under ./data)"
	@echo "make test   - make sure PostgreSQL and RabbitMQ run, then the whole test suite"
	@echo "make soak   - the fault tests' long profiles (more writes, more and longer cuts)"
	@echo "make lint   - rustfmt and clippy, warnings are errors; promtool on the alert rules"
	@echo "make fmt    - format the code"
	@echo "make helm-lint - lint, render and test the Helm chart, the Dockerfile and compose file"
	@echo "make bench  - the load generator: scenarios and baselines on PostgreSQL and RabbitMQ (release build)"
	@echo "make fuzz   - cargo-fuzz on every parser property, FUZZ_SECONDS each (nightly toolchain)"

run:
	@echo "Starting the platform. From another terminal, with target/release/inspraak:"
	@echo "  inspraak health                        every service ready?"
	@echo "  inspraak login --email <admin>         (first admin: BOOTSTRAP_ADMIN_EMAIL=<admin> make run)"
	@echo "  inspraak demo                          seed a small city to look around in"
	$(CARGO) run --release -p inspraak -- all

build:
	$(CARGO) build --workspace --all-targets

test: test-services
	$(CARGO) nextest run --workspace --no-fail-fast

# The fault scenarios with their long profiles (INSPRAAK_SOAK=1), their
# summary lines shown.
soak: test-services
	INSPRAAK_SOAK=1 $(CARGO) nextest run --profile soak -p inspraak-tests --no-capture --run-ignored all \
		--test database_outage --test broker_outage --test broker_restart --test degraded_network

test-services:
	scripts/test-services.sh

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	scripts/promtool.sh

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
	rm -rf data

# Installs its own helm and Kubernetes schemas into .tools/ (gitignored).
helm-lint:
	helm/tests/helm-lint.sh

# The short form (a few minutes); docs/performance.md has the long form the
# targets are stated for, e.g. make bench BENCH_ARGS="all --runs 5 --duration 10".
BENCH_ARGS ?= all --runs 3 --duration 3 --warmup 1 --open-duration 10 --pipeline-events 10000 --pipeline-duration 10

bench: test-services
	$(CARGO) run --release -p inspraak-loadgen -- $(BENCH_ARGS)

# libFuzzer on each property of tests/properties (nightly; not in make test,
# which checks the same properties over seeds and generated inputs).
FUZZ_SECONDS ?= 60
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh
