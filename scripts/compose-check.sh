#!/usr/bin/env bash
# `make compose-check`: builds the three images from the Dockerfile, starts the stack of
# docker-compose.yml as an operator would (Redis, ingestion, consumer, analytics), posts an event
# to ingestion, reads it back through analytics (and checks that the dashboard is served), then
# stops the stack and removes its volumes. Exits non-zero on any failure, after printing the
# services' logs.
#
# API keys (AUTH=keys, the default; docs/SECURITY.md): it checks that the first start printed the
# bootstrap keys in the analytics log and that a request without a key is refused, then creates
# a write and a read key for its own shop with `analytics keys create` inside the analytics
# container (`compose exec`), and sends them with the POST and the GETs. With AUTH=off in the
# environment the stack runs without keys and the check sends none.
#
# It runs as its own Compose project (COMPOSE_PROJECT, default shop-analytics-check) on free host
# ports, so it touches neither a running `make run` nor an operator's shop-analytics stack and
# its volumes. Compose v2 (`docker compose`) is used when present, else v1 (`docker-compose`).
# A base image that is missing locally is pulled; when that fails (no registry reachable), the
# local stand-ins of scripts/base-images.sh are built instead. `make compose-check` first runs
# `make vendor`, so the image builds need no network.
set -euo pipefail
cd "$(dirname "$0")/.."

DOCKER=${DOCKER:-docker}
PROJECT=${COMPOSE_PROJECT:-shop-analytics-check}
WAIT_SECONDS=${WAIT_SECONDS:-180}

log() { printf '==> %s\n' "$*"; }
fail() { printf 'compose-check: FAILED: %s\n' "$*" >&2; exit 1; }

"$DOCKER" info >/dev/null 2>&1 ||
    fail "no Docker engine answers (start one: dockerd, or systemctl start docker)"

if "$DOCKER" compose version >/dev/null 2>&1; then
    compose=("$DOCKER" compose)
elif command -v docker-compose >/dev/null; then
    compose=(docker-compose)
    # Compose v1 builds through the engine's API with the classic builder unless told otherwise;
    # the Dockerfile is written for both builders.
    export COMPOSE_DOCKER_CLI_BUILD=${COMPOSE_DOCKER_CLI_BUILD:-0} DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-0}
else
    fail "neither 'docker compose' (v2) nor 'docker-compose' (v1) is installed"
fi
compose+=(-p "$PROJECT" -f docker-compose.yml)
log "compose: ${compose[*]} ($("${compose[@]}" version --short 2>/dev/null || true))"

# The base images: present, pulled, or built locally as stand-ins.
default_arg() { sed -nE "s/^ARG $1=(.+)$/\1/p" Dockerfile | head -n1; }
redis_image=$(sed -nE 's/^ *image: *"?\$\{REDIS_IMAGE:-([^}]+)\}"?.*$/\1/p' docker-compose.yml | head -n1)
missing=()
for image in "$(default_arg RUST_IMAGE)" "$(default_arg NODE_IMAGE)" "$(default_arg DEBIAN_IMAGE)" "${REDIS_IMAGE:-$redis_image}"; do
    "$DOCKER" image inspect "$image" >/dev/null 2>&1 || missing+=("$image")
done
for image in "${missing[@]}"; do
    log "pulling $image"
    if ! timeout 300 "$DOCKER" pull -q "$image" >/dev/null 2>&1; then
        log "cannot pull $image; building local stand-ins (scripts/base-images.sh)"
        DOCKER=$DOCKER scripts/base-images.sh
        break
    fi
done

# Free host ports, unless given.
free_port() {
    local port
    for _ in $(seq 100); do
        port=$((20000 + RANDOM % 30000))
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
    done
    fail "no free port found"
}
export INGESTION_PORT=${INGESTION_PORT:-$(free_port)}
export ANALYTICS_PORT=${ANALYTICS_PORT:-$(free_port)}
export DASHBOARD_PORT=${DASHBOARD_PORT:-$(free_port)}
# A short batch timeout, so the event is readable soon after it is posted.
export BATCH_TIMEOUT=${BATCH_TIMEOUT:-1s}
ingestion=http://127.0.0.1:$INGESTION_PORT
analytics=http://127.0.0.1:$ANALYTICS_PORT

started=0
finish() {
    local status=$?
    trap - EXIT
    if [ "$started" = 1 ]; then
        if [ "$status" -ne 0 ]; then
            echo "---- logs of the failed run ----" >&2
            "${compose[@]}" logs --no-color --tail 40 >&2 || true
        fi
        log "stopping the stack and removing its volumes"
        "${compose[@]}" down -v --remove-orphans || status=1
    fi
    if [ "$status" -eq 0 ]; then log "compose-check: OK"; fi
    exit "$status"
}
trap finish EXIT

log "building the images (docker-compose.yml → Dockerfile targets ingestion, consumer, analytics)"
"${compose[@]}" build
for service in ingestion consumer analytics; do
    "$DOCKER" image inspect "shop-analytics-$service" --format "    shop-analytics-$service {{.Id}} {{.Size}} bytes" ||
        fail "no image shop-analytics-$service"
done

log "starting the stack (project $PROJECT; ingestion :$INGESTION_PORT, analytics :$ANALYTICS_PORT, dashboard :$DASHBOARD_PORT)"
started=1
"${compose[@]}" up -d

# Polls `curl ARGS…` until it succeeds, for up to WAIT_SECONDS.
until_ok() {
    local what=$1
    shift
    local deadline=$((SECONDS + WAIT_SECONDS))
    until curl -fsS --max-time 5 "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || fail "$what: no answer within ${WAIT_SECONDS}s"
        sleep 1
    done
    log "$what: ok"
}
until_ok "ingestion ready (Redis reachable)" "$ingestion/v1/ready"
until_ok "analytics ready (schema current)" "$analytics/api/ready"

shop=compose-check-$(date +%s)

# The keys: a write key for the POST, a read key for the GETs (none with AUTH=off).
write_auth=()
read_auth=()
if [ "${AUTH:-keys}" != off ]; then
    log "API keys (AUTH=keys)"
    "${compose[@]}" logs --no-color analytics 2>&1 | grep -q 'API keys for the shop `default`' ||
        fail "the analytics log lacks the first start's keys (analytics keys bootstrap)"
    echo "    the first start printed the bootstrap keys for the shop \`default\` in the analytics log"
    # The status of `curl ARGS…`, repeated while it is 503 (a service answers 503 until it has
    # read the keys from Redis once), for up to 30 s.
    status_of() {
        local status deadline=$((SECONDS + 30))
        while :; do
            status=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "$@" || true)
            [ "$status" = 503 ] && [ "$SECONDS" -lt "$deadline" ] || break
            sleep 1
        done
        echo "$status"
    }
    status=$(status_of "$analytics/api/v1/summary")
    [ "$status" = 401 ] || fail "GET /api/v1/summary without a key answered $status, not 401"
    status=$(status_of -X POST "$ingestion/v1/events" -H 'Content-Type: application/json' \
        -d '{"event_type":"page_view","timestamp":"2025-10-02T10:30:00Z"}')
    [ "$status" = 401 ] || fail "POST /v1/events without a key answered $status, not 401"
    echo "    without a key: POST /v1/events → 401, GET /api/v1/summary → 401"
    # Prints the new key (the last line of `keys create`), created inside the analytics container.
    create_key() {
        "${compose[@]}" exec -T analytics analytics keys create --kind "$1" --shop "$shop" \
            --name compose-check | tail -n1 | tr -d '\r'
    }
    write_key=$(create_key write) || fail "analytics keys create --kind write failed"
    read_key=$(create_key read) || fail "analytics keys create --kind read failed"
    [[ "$write_key" == sk_* && "$read_key" == rk_* ]] ||
        fail "analytics keys create printed no key (write: '$write_key', read: '$read_key')"
    echo "    created for shop $shop with analytics keys create: write ${write_key:0:7}…, read ${read_key:0:7}…"
    write_auth=(-H "Authorization: Bearer $write_key")
    read_auth=(-H "Authorization: Bearer $read_key")
fi

event_id=$(cat /proc/sys/kernel/random/uuid)
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
log "posting a purchase of 42.50 EUR for shop $shop (event_id $event_id)"
# A new key works once each service has reloaded the keys (KEYS_REFRESH, 5 s): until then
# ingestion answers 401, so the POST is repeated (the same event_id: it is stored once).
deadline=$((SECONDS + 30))
while :; do
    answer=$(curl -sS --max-time 10 -w '\n%{http_code}' -X POST "$ingestion/v1/events" \
        "${write_auth[@]}" -H 'Content-Type: application/json' \
        -d "{\"event_id\":\"$event_id\",\"event_type\":\"purchase\",\"timestamp\":\"$now\",\"shop_id\":\"$shop\",\"product_id\":\"compose-check\",\"order_amount\":42.5,\"currency\":\"EUR\"}")
    status=$(tail -n1 <<<"$answer")
    [ "$status" = 401 ] && [ "${#write_auth[@]}" -gt 0 ] && [ "$SECONDS" -lt "$deadline" ] || break
    sleep 1
done
echo "    $(tr '\n' ' ' <<<"$answer")"
[ "$status" = 202 ] || fail "ingestion did not answer 202"
grep -q "\"event_id\":\"$event_id\"" <<<"$answer" || fail "ingestion did not echo the event_id"

log "reading it back through analytics"
deadline=$((SECONDS + WAIT_SECONDS))
while :; do
    metrics=$(curl -fsS --max-time 5 "${read_auth[@]}" "$analytics/api/analytics?shop_id=$shop" || true)
    if grep -q '"total_purchases":1' <<<"$metrics" && grep -q '"max_purchase_value":42.5' <<<"$metrics"; then
        echo "    GET /api/analytics?shop_id=$shop → $metrics"
        break
    fi
    [ "$SECONDS" -lt "$deadline" ] || fail "analytics did not show the event within ${WAIT_SECONDS}s (last answer: $metrics)"
    sleep 1
done
summary=$(curl -fsS --max-time 5 "${read_auth[@]}" "$analytics/api/v1/summary?shop_id=$shop") || fail "GET /api/v1/summary failed"
grep -q '"revenue_by_currency":{"EUR":42.5}' <<<"$summary" || fail "the summary lacks the event: $summary"
echo "    GET /api/v1/summary?shop_id=$shop → revenue_by_currency {\"EUR\":42.5}"

log "the dashboard, as analytics serves it"
for port in "$ANALYTICS_PORT" "$DASHBOARD_PORT"; do
    page=$(curl -fsS --max-time 5 "http://127.0.0.1:$port/") || fail "GET / on :$port failed"
    grep -qi '<div id="app"' <<<"$page" || fail "GET / on :$port is not the dashboard"
    echo "    GET http://127.0.0.1:$port/ → the dashboard's index.html"
done

log "container health (the images' HEALTHCHECKs)"
deadline=$((SECONDS + WAIT_SECONDS))
for service in redis ingestion consumer analytics; do
    id=$("${compose[@]}" ps -q "$service")
    while :; do
        health=$("$DOCKER" inspect -f '{{.State.Health.Status}}' "$id")
        [ "$health" = healthy ] && break
        [ "$SECONDS" -lt "$deadline" ] || fail "$service is $health"
        sleep 2
    done
    echo "    $service: $health"
done

# SIGTERM is how Compose (and any orchestrator) stops a container: each service must finish what
# it holds, join its background tasks and exit 0 (docs/ARCHITECTURE.md, "Shutdown joins
# everything"), well within Compose's grace period.
log "stopping the services with SIGTERM (compose stop): each exits 0"
"${compose[@]}" stop -t 30 ingestion consumer analytics
for service in ingestion consumer analytics; do
    id=$("$DOCKER" ps -a -q --filter "label=com.docker.compose.project=$PROJECT" \
        --filter "label=com.docker.compose.service=$service" | head -n1)
    code=$("$DOCKER" inspect -f '{{.State.ExitCode}}' "$id")
    [ "$code" = 0 ] || fail "$service exited $code after SIGTERM"
    echo "    $service: exited 0"
done
