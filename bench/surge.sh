#!/usr/bin/env bash
# The surge scenario: spillway in front of two test backends of known capacity, driven by the
# bundled load generator from a normal rate to a surge beyond capacity and back, while it polls
# spillway's /stats. Writes the timeline (CSV and SVG) and the JSON summary.
#
# usage: bench/surge.sh [--out DIR] [--steps 'RATE:DUR,...'] [--connections N]
#
# Setup (loopback only, every process bounded in time):
#   backends  2 × `loadgen serve --latency 10ms --max-concurrency 10` on CPU 1:
#             capacity 10 / 10 ms = 1,000 req/s each, 2,000 req/s together
#   spillway  threads = 1 on CPU 0; max_connections_per_target = 10 (the backends' concurrency),
#             surge_queue_length = 200, queue_timeout = 2s, least_outstanding_requests
#   load      `loadgen -t 1 --cpus 1 -c N --steps STEPS --stats-url .../stats` (open loop)
#
# Environment: SPILLWAY_BIN, LOADGEN_BIN (default: cargo build --release of both).
# Reports; checks nothing.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib/common.sh
source "$ROOT/bench/lib/common.sh"

OUT=$ROOT/target/bench-results/surge-$(date -u +%Y%m%d-%H%M%S)
STEPS='1000:5s,5000:8s,1000:7s'
CONNS=400
while [[ $# -gt 0 ]]; do
    case $1 in
        --out) OUT=${2:?}; shift 2 ;;
        --steps) STEPS=${2:?}; shift 2 ;;
        --connections) CONNS=${2:?}; shift 2 ;;
        -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
        *) bench_die "unknown argument: $1" ;;
    esac
done
mkdir -p "$OUT"

if [[ -z ${SPILLWAY_BIN:-} || -z ${LOADGEN_BIN:-} ]]; then
    bench_log "building spillway and loadgen (release)"
    (cd "$ROOT" && cargo build --release -p spillway -p spillway-loadgen >&2) || bench_die "build failed"
    dir=${CARGO_TARGET_DIR:-$ROOT/target}/release
    SPILLWAY_BIN=${SPILLWAY_BIN:-$dir/spillway}
    LOADGEN_BIN=${LOADGEN_BIN:-$dir/loadgen}
fi

BENCH_PIDS=()
BENCH_TMP=$(mktemp -d /tmp/spillway-surge.XXXXXX)
bench_install_traps

# Every process ends by itself after this long, even if this script is killed hard.
total_s=$(awk -v s="$STEPS" 'BEGIN {n = split(s, p, ","); for (i = 1; i <= n; i++) {split(p[i], q, ":"); t += q[2] + 0}; print t}')
lifetime=$((total_s + 30))

backends=()
for i in 1 2; do
    port=$(bench_free_port)
    taskset -c 1 timeout "$lifetime" "$LOADGEN_BIN" serve --listen "127.0.0.1:$port" --latency 10ms \
        --max-concurrency 10 >"$BENCH_TMP/backend-$i.log" 2>&1 &
    bench_track $!
    bench_wait_port "$port" 10 $! || bench_die "backend $i did not start"
    backends+=("$port")
done

LB_PORT=$(bench_free_port)
ADMIN_PORT=$(bench_free_port)
cat >"$BENCH_TMP/surge.toml" <<CONF
[runtime]
threads = 1
pin = false

[admin]
listen = "127.0.0.1:$ADMIN_PORT"

[[listener]]
name = "web"
bind = "127.0.0.1:$LB_PORT"
protocol = "http"
target_group = "app"

[[target_group]]
name = "app"
algorithm = "least_outstanding_requests"
max_connections_per_target = 10
surge_queue_length = 200
queue_timeout = "2s"
targets = [ { addr = "127.0.0.1:${backends[0]}" }, { addr = "127.0.0.1:${backends[1]}" } ]

[target_group.health_check]
protocol = "tcp"
interval = "2s"
timeout = "1s"
CONF
taskset -c 0 timeout "$lifetime" "$SPILLWAY_BIN" -f "$BENCH_TMP/surge.toml" >"$BENCH_TMP/spillway.log" 2>&1 &
SPILLWAY_PID=$!
bench_track "$SPILLWAY_PID"
bench_wait_port "$LB_PORT" 15 "$SPILLWAY_PID" || bench_die "spillway did not start: $(cat "$BENCH_TMP/spillway.log")"
bench_log "spillway pid $SPILLWAY_PID on :$LB_PORT (admin :$ADMIN_PORT), backends ${backends[*]}; steps $STEPS"

"$LOADGEN_BIN" "http://127.0.0.1:$LB_PORT/" -t 1 --cpus 1 -c "$CONNS" --steps "$STEPS" --timeout 5s \
    --stats-url "http://127.0.0.1:$ADMIN_PORT/stats" --timeline "$OUT/surge.csv" --plot "$OUT/surge.svg" \
    --json "$OUT/surge.json" | tee "$OUT/summary.txt"
curl -s "http://127.0.0.1:$ADMIN_PORT/stats" >"$OUT/stats-after.json" 2>/dev/null ||
    bench_log "curl missing: no stats-after.json"
cp "$BENCH_TMP/surge.toml" "$OUT/"
bench_log "written: $OUT/{surge.csv,surge.svg,surge.json,summary.txt,surge.toml}"
