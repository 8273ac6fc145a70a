#!/usr/bin/env bash
# `make test-contract`: the HTTP contract tested from outside. Starts a private redis-server
# and the three services (debug builds, free ports, a temporary store; first with AUTH=off, then
# again with keys and their limits raised), then runs
# schemathesis against ingestion and analytics with the documents they serve themselves
# (/v1/openapi.json, /api/openapi.json): generated valid and invalid requests, checking that
# no answer is a server error, and that every status code, content type, header and response
# body is one the document lists. Events that ingestion accepts flow through the consumer into
# the store that analytics reads, so analytics is also asked about real data.
#
# SCHEMATHESIS is the schemathesis binary (the Makefile installs a pinned one into a venv);
# CONTRACT_EXAMPLES (default 50) bounds the examples per operation, and with it the run time.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS="$(realpath "${SCHEMATHESIS:-target/contract-venv/bin/schemathesis}")"
CONFIG="$PWD/scripts/schemathesis.toml"
EXAMPLES="${CONTRACT_EXAMPLES:-50}"

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

work="$(mktemp -d)"
pids=()
stop() {
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$work"
}
trap stop EXIT

wait_for() { # URL NAME LOG
	for _ in $(seq 100); do
		python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' "$1" \
			2>/dev/null && return 0
		sleep 0.1
	done
	echo "error: $2 did not become ready at $1; its log:" >&2
	cat "$3" >&2
	exit 1
}

cargo build --locked --quiet --bin ingestion --bin consumer --bin analytics

redis_port="$(free_port)"
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$work" --save "" --appendonly no \
	>"$work/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done

export AUTH=off
export REDIS_URL="redis://127.0.0.1:$redis_port"
export DATABASE_URL="$work/analytics.db"
export DASHBOARD_DIR="$work/no-dashboard"
export CONSUMER_NAME=contract
export INGESTION_ADDR="127.0.0.1:$(free_port)"
export ANALYTICS_ADDR="127.0.0.1:$(free_port)"
export INGESTION_METRICS_ADDR="127.0.0.1:$(free_port)"
export ANALYTICS_METRICS_ADDR="127.0.0.1:$(free_port)"
export CONSUMER_METRICS_ADDR="127.0.0.1:$(free_port)"
export RUST_LOG="${RUST_LOG:-warn}"

target/debug/consumer >"$work/consumer.log" 2>&1 &
pids+=($!)
target/debug/ingestion >"$work/ingestion.log" 2>&1 &
pids+=($!)
wait_for "http://$INGESTION_ADDR/v1/ready" ingestion "$work/ingestion.log"
# The consumer creates the store; analytics waits for it.
for _ in $(seq 100); do [ -f "$DATABASE_URL" ] && break; sleep 0.1; done
target/debug/analytics >"$work/analytics.log" 2>&1 &
pids+=($!)
wait_for "http://$ANALYTICS_ADDR/api/ready" analytics "$work/analytics.log"

# Every check but two: `positive_data_acceptance` expects every request the schema allows to
# succeed, while some rules cannot be said in a schema (a `timestamp` within ten years of now,
# `from` before `to`, at most 5000 buckets) and are refused with a documented 400; and without
# keys (`AUTH=off`), a request without credentials is rightly answered, which `ignored_auth`
# would report. The live stream never ends, so it is tested by the Rust tests instead
# (tests/api/v1.rs).
run() { # NAME URL [schemathesis options]
	local name="$1" url="$2"
	shift 2
	echo "== schemathesis: $name ($url)"
	# From the temporary folder: schemathesis keeps caches (.schemathesis/, .hypothesis/) in
	# the folder it runs in, and a test run leaves the work tree as it found it.
	(cd "$work" && "$SCHEMATHESIS" --config-file "$CONFIG" run "$url" --exclude-path /api/v1/live \
		--exclude-checks positive_data_acceptance \
		--mode all --max-examples "$EXAMPLES" --workers 2 \
		--request-timeout 10 --suppress-health-check all --seed 1 --no-color "$@")
}

status=0
off=(--generation-with-security-parameters false --checks all --exclude-checks ignored_auth,positive_data_acceptance)
run "ingestion, AUTH=off" "http://$INGESTION_ADDR/v1/openapi.json" "${off[@]}" || status=1
run "analytics, AUTH=off" "http://$ANALYTICS_ADDR/api/openapi.json" "${off[@]}" || status=1

# Then with keys (the default), limits raised: the same requests with a good key, and without
# one or with a bad one (`ignored_auth`), which must be 401. The write key is for one shop, so
# events naming another are the documented 403.
key() { target/debug/analytics keys create --name contract "$@" | tail -n1; }
write_key="$(key --kind write --shop contract)"
read_key="$(key --kind read --all-shops)"
stop_services() {
	kill -TERM "${pids[@]:1}" 2>/dev/null || true
	wait "${pids[@]:1}" 2>/dev/null || true
	pids=("${pids[0]}")
}
stop_services
export AUTH=keys RATE_LIMIT_WRITE=1000000 RATE_LIMIT_READ=1000000 RATE_LIMIT_ANON=1000000
target/debug/consumer >>"$work/consumer.log" 2>&1 &
pids+=($!)
target/debug/ingestion >>"$work/ingestion.log" 2>&1 &
pids+=($!)
target/debug/analytics >>"$work/analytics.log" 2>&1 &
pids+=($!)
wait_for "http://$INGESTION_ADDR/v1/ready" ingestion "$work/ingestion.log"
wait_for "http://$ANALYTICS_ADDR/api/ready" analytics "$work/analytics.log"
keys=(--checks all)
run "ingestion, AUTH=keys" "http://$INGESTION_ADDR/v1/openapi.json" "${keys[@]}" \
	-H "Authorization: Bearer $write_key" || status=1
run "analytics, AUTH=keys" "http://$ANALYTICS_ADDR/api/openapi.json" "${keys[@]}" \
	-H "Authorization: Bearer $read_key" || status=1

if [ "$status" -ne 0 ]; then
	for name in ingestion consumer analytics; do
		echo "== $name log (last 40 lines)"
		tail -n 40 "$work/$name.log"
	done
fi
exit "$status"
