#!/usr/bin/env bash
# See one trace cross a Go and a Rust service: what `make demo-trace` runs after `make demo`.
#
# Builds the two demo services, starts `scaffold dev --expect-trace` (the local collector, which
# prints each trace as a tree), runs both services, calls the Go service's /call, which calls the
# Rust service's /hello, and exits with the sink's verdict: 0 once one trace holds the spans of
# both services, 16 when none arrived in time.
#
# Usage: scripts/demo-trace.sh [DEMO_DIR]   (default build/demo, where `make demo` renders)
# Ports, each overridable by the environment: DEMO_GO_PORT (8080), DEMO_GO_GRPC_PORT (9090),
# DEMO_RUST_PORT (8090), OTLP_GRPC_PORT (4317), OTLP_HTTP_PORT (4318). DEMO_TIMEOUT (60) is how
# long the sink waits for the trace once it listens.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
demo="$(cd "${1:-build/demo}" && pwd)"
scaffold="${SCAFFOLD:-$here/../.venv/bin/scaffold}"
go_port="${DEMO_GO_PORT:-8080}"
go_grpc_port="${DEMO_GO_GRPC_PORT:-9090}"
rust_port="${DEMO_RUST_PORT:-8090}"
grpc_port="${OTLP_GRPC_PORT:-4317}"
http_port="${OTLP_HTTP_PORT:-4318}"
timeout="${DEMO_TIMEOUT:-60}"
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"

say() { echo "demo-trace: $*" >&2; }

say "building payments-api (Go) and ledger (Rust); with empty Go and cargo caches this takes minutes"
mkdir -p "$demo/bin"
(cd "$demo/payments-api" && go build -o "$demo/bin/payments-api" ./cmd/payments-api)
(cd "$demo/ledger" && cargo build)
cp -f "${CARGO_TARGET_DIR:-$demo/ledger/target}/debug/ledger" "$demo/bin/ledger"

pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$scaffold" dev --expect-trace --services 2 --timeout "$timeout" \
    --grpc-port "$grpc_port" --http-port "$http_port" &
sink=$!
pids+=("$sink")
# The first run builds the collector (minutes, with progress); wait until it listens.
until curl -s -o /dev/null "http://127.0.0.1:$http_port/"; do
    if ! kill -0 "$sink" 2>/dev/null; then
        wait "$sink" || exit $?
        exit 1
    fi
    sleep 0.5
done

# The admin listener is of no use here, and both services would want its default port.
common=(OTEL_EXPORTER_OTLP_ENDPOINT="http://localhost:$grpc_port" TELEMETRY_ADMIN_ADDR=off)
env "${common[@]}" PORT="$rust_port" "$demo/bin/ledger" >"$demo/ledger.log" 2>&1 &
pids+=($!)
env "${common[@]}" PORT="$go_port" GRPC_PORT="$go_grpc_port" \
    DOWNSTREAM_URL="http://localhost:$rust_port/hello" \
    "$demo/bin/payments-api" >"$demo/payments-api.log" 2>&1 &
pids+=($!)
say "payments-api on :$go_port calls ledger on :$rust_port (their logs: $demo/*.log)"

for port in "$rust_port" "$go_port"; do
    for _ in $(seq 100); do
        curl -fs -o /dev/null "http://localhost:$port/healthz" && break
        sleep 0.2
    done
done
say "GET http://localhost:$go_port/call -> $(curl -fsS "http://localhost:$go_port/call")"

status=0
wait "$sink" || status=$?
exit "$status"
