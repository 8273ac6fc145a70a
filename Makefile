# The two commands a newcomer needs: `make run` (the whole system) and `make test` (every test).
# Both work on a fresh Debian machine that has only Rust and Node: they install redis-server
# (and, for the dashboard's browser tests, chromium) with apt-get when it is missing.

SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

.PHONY: help run test test-frontend test-contract build dashboard lint lint-frontend lint-api-types fmt clean redis-server \
	postgresql chromium bench bench-queries vendor base-images compose-check api-types

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

redis-server: ## Install redis-server with apt-get if it is missing
	@if command -v redis-server >/dev/null; then exit 0; fi
	echo "redis-server is missing; installing it with apt-get"
	if [ "$$(id -u)" = 0 ]; then
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
		sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server
	else
		echo "error: cannot install as this user; run: sudo apt-get install -y redis-server" >&2
		exit 1
	fi

# The tests start private PostgreSQL clusters (initdb + postgres as the user `postgres`, on a
# free port, in a temporary folder; crates/test-support/src/pg.rs); Debian keeps those programs
# in /usr/lib/postgresql/*/bin. The package's own server is not used.
postgresql: ## Install PostgreSQL with apt-get if initdb is missing (the tests start their own clusters)
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null; then exit 0; fi
	echo "PostgreSQL (initdb) is missing; installing it with apt-get"
	if [ "$$(id -u)" = 0 ]; then
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
		sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql
	else
		echo "error: cannot install as this user; run: sudo apt-get install -y postgresql" >&2
		exit 1
	fi

# The dashboard's browser tests drive Debian's chromium (playwright-core downloads no browser).
chromium: ## Install chromium with apt-get if it is missing (for the dashboard's browser tests)
	@if [ -x /usr/bin/chromium ]; then exit 0; fi
	echo "chromium is missing; installing it with apt-get"
	if [ "$$(id -u)" = 0 ]; then
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
		sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
	else
		echo "error: cannot install as this user; run: sudo apt-get install -y chromium" >&2
		exit 1
	fi

# npm ci only when the lock file changed since the last install.
frontend/node_modules/.package-lock.json: frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund
	touch node_modules/.package-lock.json

DASHBOARD_SOURCES := $(shell find frontend/src frontend/public -type f 2>/dev/null) \
	frontend/index.html frontend/vite.config.ts frontend/tsconfig.json

# npm run build only when a source is newer than the last build.
frontend/dist/index.html: frontend/node_modules/.package-lock.json $(DASHBOARD_SOURCES)
	cd frontend && npm run build

dashboard: frontend/dist/index.html ## Build the dashboard into frontend/dist (analytics serves it)

build: ## Build the three services (release)
	cargo build --release --locked --bin ingestion --bin consumer --bin analytics

test: redis-server postgresql test-frontend test-contract ## Run every test (unit, integration against a private Redis and PostgreSQL, end to end, the dashboard's, the HTTP contract)
	cargo test --workspace --locked

# schemathesis, pinned, in a venv of its own under target/ (pip from PyPI; redone when the pin
# changes).
SCHEMATHESIS_VERSION := 4.32.5
CONTRACT_VENV := target/contract-venv
$(CONTRACT_VENV)/.schemathesis-$(SCHEMATHESIS_VERSION):
	@python3 -c 'import ensurepip, venv' 2>/dev/null || { echo "error: python3 cannot make a venv; run: sudo apt-get install -y python3-venv" >&2; exit 1; }
	rm -rf $(CONTRACT_VENV)
	python3 -m venv $(CONTRACT_VENV)
	$(CONTRACT_VENV)/bin/pip install --quiet --disable-pip-version-check schemathesis==$(SCHEMATHESIS_VERSION)
	touch "$@"

# The services' own OpenAPI documents against the running services (scripts/contract-test.sh):
# generated valid and invalid requests; no server error, and only the statuses, content types,
# headers and bodies the documents list. CONTRACT_EXAMPLES bounds the examples per operation.
test-contract: redis-server $(CONTRACT_VENV)/.schemathesis-$(SCHEMATHESIS_VERSION) ## Run schemathesis against both services, from their own OpenAPI documents
	SCHEMATHESIS=$(CONTRACT_VENV)/bin/schemathesis scripts/contract-test.sh

# DATABASE_URL=postgres://USER@HOST/DB measures on PostgreSQL: each phase creates (and drops) a
# database of its own on that server, so the user needs CREATEDB.
bench: redis-server ## Measure ingestion, batch, consumer, sustained rate, RSS and /api/analytics against their ceilings
	cargo build --release --locked --bins
	AUTH=off target/release/bench $(BENCH_ARGS)

# The browser tests build and start the real services themselves, over their own redis-server.
test-frontend: redis-server chromium frontend/node_modules/.package-lock.json ## The dashboard's unit tests and its tests in headless Chromium
	cd frontend
	npm test
	npm run test:e2e

lint: lint-frontend lint-api-types ## Check formatting and clippy, the dashboard with ESLint and vue-tsc, and its generated API types
	cargo fmt --all -- --check
	cargo clippy --all-targets --locked -- -D warnings

# ESLint (typescript-eslint, eslint-plugin-vue; frontend/eslint.config.js), warnings included,
# then the type check of every .ts and .vue file (`vue-tsc --noEmit`).
lint-frontend: frontend/node_modules/.package-lock.json ## The dashboard's lint: ESLint and vue-tsc --noEmit
	cd frontend && npm run lint

# The dashboard's API types are generated, never written: `analytics openapi` prints the
# document the service serves at /api/openapi.json, committed as
# frontend/src/api/analytics.openapi.json, and openapi-typescript (pinned in package.json; run
# by `npm run build` too) turns it into frontend/src/api/schema.ts.
api-types: frontend/node_modules/.package-lock.json ## Regenerate the dashboard's copy of the analytics OpenAPI document and its TypeScript types
	@cargo run --locked --quiet -p analytics -- openapi >frontend/src/api/analytics.openapi.json
	cd frontend && npm run --silent api-types

# Fails when a route, parameter or answer changed in the code but the dashboard's document or
# types were not regenerated (`make api-types`).
lint-api-types: frontend/node_modules/.package-lock.json ## Check that the dashboard's API document and types are those of the code
	@mkdir -p target/api-types
	cargo run --locked --quiet -p analytics -- openapi >target/api-types/analytics.openapi.json
	cd frontend && npx --no-install openapi-typescript ../target/api-types/analytics.openapi.json \
		-o ../target/api-types/schema.ts >/dev/null 2>&1
	cd ..
	for file in analytics.openapi.json schema.ts; do
		if ! diff -u "frontend/src/api/$$file" "target/api-types/$$file"; then
			echo "error: frontend/src/api/$$file is not what the code gives; run: make api-types" >&2
			exit 1
		fi
	done

fmt: ## Format the code
	cargo fmt --all

clean: ## Remove build output and the local run state (keeps data/)
	cargo clean
	rm -rf .run frontend/dist frontend/node_modules

# `make run`: Redis (a private one when none answers at REDIS_URL), the three services, until
# Ctrl-C; analytics serves the built dashboard. Every variable of the README's "Configuration" is
# honoured from the environment.
run: redis-server build dashboard ## Start Redis, ingestion, consumer, analytics and the dashboard; Ctrl-C stops them
	@export REDIS_URL="$${REDIS_URL:-redis://127.0.0.1:6379}"
	export DATABASE_URL="$${DATABASE_URL:-sqlite://data/analytics.db}"
	export INGESTION_ADDR="$${INGESTION_ADDR:-0.0.0.0:8080}"
	export ANALYTICS_ADDR="$${ANALYTICS_ADDR:-0.0.0.0:8000}"
	export CONSUMER_NAME="$${CONSUMER_NAME:-$$(hostname)}"
	pids=()
	redis_pid=""
	stop() {
		trap - INT TERM EXIT
		echo "stopping…"
		for pid in "$${pids[@]}"; do kill -TERM "$$pid" 2>/dev/null || true; done
		for pid in "$${pids[@]}"; do wait "$$pid" 2>/dev/null || true; done
		# Redis stops last, so the consumer can acknowledge its final batch.
		if [ -n "$$redis_pid" ]; then kill -TERM "$$redis_pid" 2>/dev/null || true; wait "$$redis_pid" 2>/dev/null || true; fi
		echo "stopped"
	}
	trap stop INT TERM EXIT
	if ! redis-cli -u "$$REDIS_URL" ping >/dev/null 2>&1; then
		port="$$(sed -E 's#^redis://([^@/]*@)?[^:/]*(:([0-9]+))?.*#\3#' <<<"$$REDIS_URL")"
		port="$${port:-6379}"
		mkdir -p .run/redis
		echo "no Redis answers at $$REDIS_URL; starting a private redis-server on 127.0.0.1:$$port (data in .run/redis)"
		# Its own session, so Ctrl-C reaches the services first and Redis outlives them.
		setsid redis-server --port "$$port" --bind 127.0.0.1 --dir "$$PWD/.run/redis" \
			--appendonly yes --appendfsync everysec --save "" >.run/redis.log 2>&1 &
		redis_pid=$$!
		for _ in $$(seq 50); do redis-cli -u "$$REDIS_URL" ping >/dev/null 2>&1 && break; sleep 0.1; done
		redis-cli -u "$$REDIS_URL" ping >/dev/null || { echo "error: redis-server did not start; see .run/redis.log" >&2; exit 1; }
	fi
	ingestion_url="http://$${INGESTION_ADDR/0.0.0.0/localhost}"
	analytics_url="http://$${ANALYTICS_ADDR/0.0.0.0/localhost}"
	# API keys (docs/SECURITY.md): created once for the shop `default` and kept in
	# .run/keys.env; created again when Redis no longer has them (or they were revoked).
	if [ "$${AUTH:-keys}" != off ]; then
		mkdir -p .run
		fresh=1
		if [ -f .run/keys.env ]; then
			source .run/keys.env
			listed="$$(target/release/analytics keys list)"
			fresh=0
			for id in "$$WRITE_KEY_ID" "$$READ_KEY_ID" "$$PUBLIC_KEY_ID"; do
				grep -F "\"id\":\"$$id\"" <<<"$$listed" | grep -q '"revoked":false' || fresh=1
			done
		fi
		if [ "$$fresh" = 1 ]; then
			create() {
				local out; out="$$(target/release/analytics keys create --shop default --name "make run" "$$@")"
				key="$$(tail -n1 <<<"$$out")"
				id="$$(sed -nE 's/^created [a-z]+ key (key_[A-Za-z0-9]+) .*/\1/p' <<<"$$out")"
			}
			create --kind write; WRITE_KEY="$$key"; WRITE_KEY_ID="$$id"
			create --kind read; READ_KEY="$$key"; READ_KEY_ID="$$id"
			create --kind public --origin "$$analytics_url" --origin "$${analytics_url/localhost/127.0.0.1}" --allow-purchases
			PUBLIC_KEY="$$key"; PUBLIC_KEY_ID="$$id"
			( umask 077; printf 'WRITE_KEY=%s\nWRITE_KEY_ID=%s\nREAD_KEY=%s\nREAD_KEY_ID=%s\nPUBLIC_KEY=%s\nPUBLIC_KEY_ID=%s\n' \
				"$$WRITE_KEY" "$$WRITE_KEY_ID" "$$READ_KEY" "$$READ_KEY_ID" "$$PUBLIC_KEY" "$$PUBLIC_KEY_ID" >.run/keys.env )
		fi
	fi
	target/release/consumer & pids+=($$!)
	target/release/ingestion & pids+=($$!)
	target/release/analytics & pids+=($$!)
	sleep 1
	printf '\n  Shop analytics is running (Ctrl-C stops everything):\n'
	printf '    ingestion   POST %s/v1/events\n' "$$ingestion_url"
	printf '    analytics   GET  %s/api/analytics\n' "$$analytics_url"
	printf '    dashboard   GET  %s/\n' "$$analytics_url"
	printf '    store       %s\n    redis       %s\n\n' "$$DATABASE_URL" "$$REDIS_URL"
	if [ "$${AUTH:-keys}" != off ]; then
		printf '  API keys for the shop `default` (kept in .run/keys.env; the dashboard asks for the read key):\n'
		printf '    write    %s\n    read     %s\n    public   %s\n\n' "$$WRITE_KEY" "$$READ_KEY" "$$PUBLIC_KEY"
		printf '  Try it:\n'
		printf "    curl -X POST %s/v1/events -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' -d '{\"event_type\":\"page_view\",\"timestamp\":\"%s\",\"product_id\":\"p-1\"}'\n" \
			"$$ingestion_url" "$$WRITE_KEY" "$$(date -u +%Y-%m-%dT%H:%M:%SZ)"
		printf "    curl -H 'Authorization: Bearer %s' %s/api/v1/summary\n\n" "$$READ_KEY" "$$analytics_url"
	else
		printf '  AUTH=off: no keys; anyone who can reach these ports can use them.\n\n'
	fi
	# Stop everything as soon as any service exits; a clean exit is a Ctrl-C reaching it first.
	status=0
	wait -n "$${pids[@]}" || status=$$?
	if [ "$$status" -ne 0 ]; then echo "a service failed (exit $$status); stopping the rest" >&2; exit 1; fi

# `make bench-queries`: rollups against raw scans (docs/PERFORMANCE.md). BENCH_EVENTS=10000000
# for 10M; BENCH_RUNS (20) and BENCH_RAW_RUNS set the runs; BENCH_DB keeps the loaded store;
# BENCH_ONLY=products times only the questions whose name holds that text. DATABASE_URL=postgres://…
# loads (when it holds no events) and asks that PostgreSQL database instead.
bench-queries: ## Time every analytics question from rollups and from raw scans
	AUTH=off cargo run --release --locked -p analytics --example bench_queries

# `make vendor`: what an offline image build needs, in .vendor/ (ignored by git, sent to
# `docker build`; see .vendor/README.md): the crates of Cargo.lock with the .cargo/config.toml
# that points cargo at them, and an npm cache holding every package of the dashboard's lock file.
# Each half is redone only when its lock file changed, so the other keeps its image layers.
vendor: .vendor/.cargo.stamp .vendor/.npm.stamp ## Fill .vendor/ so the Docker images build without network

.vendor/.cargo.stamp: Cargo.lock
	rm -rf .vendor.tmp/cargo .vendor/cargo "$@"
	mkdir -p .vendor.tmp/cargo/.cargo
	cargo vendor --quiet --locked --versioned-dirs .vendor.tmp/cargo/vendor >/dev/null
	printf '[source.crates-io]\nreplace-with = "vendored"\n\n[source.vendored]\ndirectory = "vendor"\n' \
		>.vendor.tmp/cargo/.cargo/config.toml
	mv .vendor.tmp/cargo .vendor/cargo
	rmdir --ignore-fail-on-non-empty .vendor.tmp
	touch "$@"

.vendor/.npm.stamp: frontend/package.json frontend/package-lock.json
	rm -rf .vendor.tmp/npm .vendor/npm "$@"
	mkdir -p .vendor.tmp/npm/lock
	cp frontend/package.json frontend/package-lock.json .vendor.tmp/npm/lock/
	(cd .vendor.tmp/npm/lock && npm ci --cache ../npm-cache --ignore-scripts --no-audit --no-fund --loglevel=error)
	rm -rf .vendor.tmp/npm/lock .vendor.tmp/npm/npm-cache/_logs
	mv .vendor.tmp/npm .vendor/npm
	rmdir --ignore-fail-on-non-empty .vendor.tmp
	touch "$@"

base-images: ## Build local stand-ins for the Dockerfile's base images (no registry needed; root)
	scripts/base-images.sh

# `make compose-check`: the operators' way in, verified (docs/OPERATIONS.md, "Docker Compose").
# Not part of `make test` or CI: it builds three release images.
compose-check: vendor ## Build the images, start the stack with Compose, post an event, read it back, stop
	scripts/compose-check.sh
