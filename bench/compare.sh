#!/usr/bin/env bash
# Compare spillway against HAProxy and against no proxy at all, on this machine.
#
#   bench/compare.sh l4 [--runs N] [--seconds S] [--warmup S] [--settle S]
#                       [--haproxy-splice auto|response|both|off] [--targets direct,haproxy,spillway]
#
# Modes are functions named mode_<name>; add `l7`, `churn`, ... the same way.
#
# Layout (2 CPUs): the proxy under test runs on CPU 0; the backend (nginx) and
# the client (wrk) share CPU 1. Targets run alternately inside every round
# (direct, haproxy, spillway, direct, ...) so background noise hits them alike,
# and the summary reports medians over the rounds.
#
# Environment:
#   SPILLWAY_BIN    use this binary instead of `cargo build --release --bin spillway`
#   BENCH_KEEP_TMP  1 = keep the temp dir (configs, logs) even on success
#   RESULTS_DIR     where the CSV and summary go (default: target/bench-results)
#
# Needs: nginx, haproxy, wrk, taskset, ss, curl. Only 127.0.0.1 is ever used;
# every process started here is tracked by PID and stopped on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib/common.sh
source "$ROOT/bench/lib/common.sh"

PROXY_CPU=0
BACKEND_CPU=1

usage() {
    cat >&2 <<'EOF'
usage: bench/compare.sh MODE [--runs N] [--seconds S] [--warmup S] [--settle S]
                            [--haproxy-splice auto|response|both|off] [--targets LIST]

modes:
  l4    TCP proxying of a 16 MiB download: nginx <- {direct, haproxy, spillway} <- wrk

options:
  --runs N        rounds (each round runs every target once; default 5)
  --seconds S     length of each measured run (default 10)
  --warmup S      unrecorded warm-up per target before the first round (default 2, 0 = none)
  --targets LIST  comma-separated subset of direct,haproxy,spillway (default: all)
  --settle S      before each run, wait up to S s for both CPUs to be <25% busy (default 20, 0 = no wait)
  --haproxy-splice auto|response|both|off
                  HAProxy's splicing: option splice-auto (default; HAProxy decides per stream),
                  splice-response (always, server to client), splice-request + splice-response, none
EOF
    exit 2
}

RUNS=5
SECONDS_PER_RUN=10
WARMUP=2
SETTLE=20
HAPROXY_SPLICE=auto
QUIET_PCT=25
TARGETS="direct,haproxy,spillway"

parse_args() {
    [[ $# -ge 1 ]] || usage
    MODE=$1
    shift
    while [[ $# -gt 0 ]]; do
        case $1 in
            --runs) RUNS=${2:?}; shift 2 ;;
            --seconds) SECONDS_PER_RUN=${2:?}; shift 2 ;;
            --warmup) WARMUP=${2:?}; shift 2 ;;
            --targets) TARGETS=${2:?}; shift 2 ;;
            --settle) SETTLE=${2:?}; shift 2 ;;
            --haproxy-splice) HAPROXY_SPLICE=${2:?}; shift 2 ;;
            -h | --help) usage ;;
            *) echo "unknown argument: $1" >&2; usage ;;
        esac
    done
    [[ $RUNS =~ ^[1-9][0-9]*$ ]] || bench_die "--runs must be a positive integer"
    [[ $SECONDS_PER_RUN =~ ^[1-9][0-9]*$ ]] || bench_die "--seconds must be a positive integer"
    [[ $WARMUP =~ ^[0-9]+$ ]] || bench_die "--warmup must be a non-negative integer"
    [[ $SETTLE =~ ^[0-9]+$ ]] || bench_die "--settle must be a non-negative integer"
    [[ $HAPROXY_SPLICE =~ ^(auto|response|both|off)$ ]] || bench_die "--haproxy-splice must be auto, response, both or off"
    local t
    IFS=, read -r -a TARGET_LIST <<<"$TARGETS"
    for t in "${TARGET_LIST[@]}"; do
        case $t in direct | haproxy | spillway) ;; *) bench_die "unknown target '$t'" ;; esac
    done
}

need() {
    local c
    for c in "$@"; do command -v "$c" >/dev/null || bench_die "'$c' not found (apt-get install -y haproxy nginx wrk)"; done
}

has_target() { [[ ",$TARGETS," == *",$1,"* ]]; }

check_cpus() {
    local n
    n=$(nproc --all)
    [[ $n -ge 2 ]] || bench_die "needs at least 2 CPUs (have $n)"
    taskset -c "$PROXY_CPU,$BACKEND_CPU" true 2>/dev/null || bench_die "cannot pin to CPUs $PROXY_CPU and $BACKEND_CPU"
}

# ---------------------------------------------------------------- processes

# nginx serving $BENCH_TMP/www on 127.0.0.1:$NGINX_PORT, pinned to the backend CPU.
start_nginx() {
    local dir=$BENCH_TMP/nginx user_line=""
    mkdir -p "$dir/www" "$dir/tmp"
    [[ $EUID -eq 0 ]] && user_line="user root;"
    NGINX_PORT=$(bench_free_port)
    cat >"$dir/nginx.conf" <<EOF
$user_line
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    default_type application/octet-stream;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $dir/www;
    }
}
EOF
    nginx -t -q -e "$dir/error.log" -p "$dir/" -c "$dir/nginx.conf" ||
        bench_die "nginx rejected its config: $(cat "$dir/error.log")"
    taskset -c "$BACKEND_CPU" nginx -e "$dir/error.log" -p "$dir/" -c "$dir/nginx.conf" \
        >"$dir/stdout.log" 2>&1 &
    NGINX_PID=$!
    bench_track "$NGINX_PID"
    bench_wait_port "$NGINX_PORT" 10 "$NGINX_PID" ||
        bench_die "nginx did not listen on $NGINX_PORT: $(cat "$dir/error.log")"
    # the worker(s): started by us, tracked too, and counted in nginx's CPU
    NGINX_PIDS=("$NGINX_PID")
    local w
    for w in $(pgrep -P "$NGINX_PID" || true); do
        bench_track "$w"
        NGINX_PIDS+=("$w")
    done
    bench_log "nginx $(nginx -v 2>&1 | sed 's/.*nginx\///') pid $NGINX_PID (workers: ${NGINX_PIDS[*]:1}) on 127.0.0.1:$NGINX_PORT, CPU $BACKEND_CPU"
}

start_haproxy() {
    local dir=$BENCH_TMP/haproxy
    mkdir -p "$dir"
    HAPROXY_PORT=$(bench_free_port)
    # maxconn 10000 makes HAProxy want ~25000 fds (2 per connection plus 2 per
    # splice pipe, maxpipes = maxconn/4); where the hard RLIMIT_NOFILE
    # is lower (containers) and cannot be raised, take the largest that fits.
    # Irrelevant to the 4 connections measured here, but it keeps HAProxy up.
    local maxconn=10000 hard
    hard=$(ulimit -Hn)
    ulimit -n "$hard" 2>/dev/null || true
    if [[ $hard != unlimited && $hard -lt 25100 ]]; then
        maxconn=$(((hard - 200) * 2 / 5))
        bench_log "note: RLIMIT_NOFILE hard limit is $hard; haproxy maxconn lowered from 10000 to $maxconn"
    fi
    HAPROXY_MAXCONN=$maxconn
    case $HAPROXY_SPLICE in
        auto) HAPROXY_SPLICE_LINE="option splice-auto" ;;
        response) HAPROXY_SPLICE_LINE="option splice-response" ;;
        both) HAPROXY_SPLICE_LINE=$'option splice-request\n    option splice-response' ;;
        off) HAPROXY_SPLICE_LINE="# no splicing" ;;
    esac
    cat >"$dir/haproxy.cfg" <<EOF
global
    nbthread 1
    cpu-map 1/1 $PROXY_CPU
    maxconn $maxconn

defaults
    mode tcp
    $HAPROXY_SPLICE_LINE
    timeout connect 2s
    timeout client 60s
    timeout server 60s

listen l4
    bind 127.0.0.1:$HAPROXY_PORT
    server nginx 127.0.0.1:$NGINX_PORT
EOF
    haproxy -q -c -f "$dir/haproxy.cfg" >"$dir/check.log" 2>&1 ||
        bench_die "haproxy rejected its config: $(cat "$dir/check.log")"
    taskset -c "$PROXY_CPU" haproxy -db -f "$dir/haproxy.cfg" >"$dir/haproxy.log" 2>&1 &
    HAPROXY_PID=$!
    bench_track "$HAPROXY_PID"
    bench_wait_port "$HAPROXY_PORT" 10 "$HAPROXY_PID" ||
        bench_die "haproxy did not listen on $HAPROXY_PORT: $(cat "$dir/haproxy.log")"
    HAPROXY_VERSION=$(haproxy -v 2>/dev/null | awk 'NR == 1 {print $3}')
    bench_log "haproxy $HAPROXY_VERSION pid $HAPROXY_PID on 127.0.0.1:$HAPROXY_PORT, CPU $PROXY_CPU"
}

spillway_bin() {
    if [[ -n ${SPILLWAY_BIN:-} ]]; then
        [[ -x $SPILLWAY_BIN ]] || bench_die "SPILLWAY_BIN=$SPILLWAY_BIN is not executable"
        echo "$SPILLWAY_BIN"
        return
    fi
    bench_log "building spillway (cargo build --release --bin spillway)"
    (cd "$ROOT" && cargo build --release --bin spillway >&2) || bench_die "cargo build failed"
    echo "${CARGO_TARGET_DIR:-$ROOT/target}/release/spillway"
}

start_spillway() {
    local dir=$BENCH_TMP/spillway bin=$BENCH_TMP/spillway/spillway
    mkdir -p "$dir"
    [[ -x $bin ]] || bin=$(spillway_bin)
    SPILLWAY_PORT=$(bench_free_port)
    cat >"$dir/l4.toml" <<EOF
[runtime]
threads = 1
pin = false

[[listener]]
name = "l4"
bind = "127.0.0.1:$SPILLWAY_PORT"
protocol = "tcp"
target_group = "nginx"

[[target_group]]
name = "nginx"
targets = [ { addr = "127.0.0.1:$NGINX_PORT" } ]
EOF
    taskset -c "$PROXY_CPU" "$bin" -f "$dir/l4.toml" >"$dir/spillway.log" 2>&1 &
    SPILLWAY_PID=$!
    bench_track "$SPILLWAY_PID"
    if ! bench_wait_port "$SPILLWAY_PORT" 15 "$SPILLWAY_PID"; then
        local why="did not listen on 127.0.0.1:$SPILLWAY_PORT within 15 s"
        if ! kill -0 "$SPILLWAY_PID" 2>/dev/null; then
            local st=0
            wait "$SPILLWAY_PID" || st=$?
            why="exited with status $st before listening on 127.0.0.1:$SPILLWAY_PORT"
        fi
        bench_die "spillway $why; config $dir/l4.toml; log: $(tail -n 20 "$dir/spillway.log")"
    fi
    SPILLWAY_VERSION=$("$bin" --version 2>/dev/null | head -n 1 || true)
    bench_log "spillway ${SPILLWAY_VERSION:-?} pid $SPILLWAY_PID on 127.0.0.1:$SPILLWAY_PORT, CPU $PROXY_CPU"
}

# One GET through PORT must return 200 and exactly SIZE bytes.
check_download() {
    local name=$1 port=$2 size=$3 out
    out=$(curl -s --max-time 20 -o /dev/null -w '%{http_code} %{size_download}' \
        "http://127.0.0.1:$port/16m.bin") || true
    [[ $out == "200 $size" ]] || bench_die "$name: GET /16m.bin via port $port gave '$out', wanted '200 $size'"
}

# wait_quiet MAXSEC: before a run, wait (at most MAXSEC s) for a 1-s window
# in which both CPUs are less than 25% busy, so a run does not start in the
# middle of someone else's compile. Proceeds (and says so) when it never is.
wait_quiet() {
    local maxsec=$1 i a0 t0 a1 t1 b0 b1 u0 u1 v0 v1
    [[ $maxsec -gt 0 ]] || return 0
    for ((i = 0; i < maxsec; i++)); do
        read -r a0 t0 < <(bench_cpu_busy "$PROXY_CPU")
        read -r a1 t1 < <(bench_cpu_busy "$BACKEND_CPU")
        sleep 1
        read -r b0 u0 < <(bench_cpu_busy "$PROXY_CPU")
        read -r b1 u1 < <(bench_cpu_busy "$BACKEND_CPU")
        v0=$((100 * (b0 - a0) / (u0 - t0 > 0 ? u0 - t0 : 1)))
        v1=$((100 * (b1 - a1) / (u1 - t1 > 0 ? u1 - t1 : 1)))
        if [[ $v0 -lt 25 && $v1 -lt 25 ]]; then return 0; fi
    done
    bench_log "note: CPUs still busy (CPU$PROXY_CPU ${v0}%, CPU$BACKEND_CPU ${v1}%) after ${maxsec}s; measuring anyway"
}

# ---------------------------------------------------------------- wrk

write_wrk_lua() {
    cat >"$BENCH_TMP/report.lua" <<'EOF'
-- Print wrk's exact totals in one parseable line.
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "BENCH bytes=%d duration_us=%d requests=%d err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
        summary.bytes, summary.duration, summary.requests,
        e.connect, e.read, e.write, e.status, e.timeout))
end
EOF
}

# run_wrk PORT SECONDS OUTFILE: the client on the backend CPU, bounded in time
# (timeout). A small bash wrapper waits for it and prints its children's CPU
# time (`times`), which run_wrk leaves in WRK_TICKS (clock ticks); on SIGTERM the
# wrapper stops timeout, which stops wrk.
run_wrk() {
    local port=$1 secs=$2 out=$3 pid rc=0
    # shellcheck disable=SC2016
    bash -c 'trap "kill -TERM \$c 2>/dev/null; wait \$c; exit 143" TERM INT
        timeout -k 5 "$1" taskset -c "$2" wrk -t1 -c4 -d"$3s" -s "$4" "$5" &
        c=$!
        wait $c && rc=0 || rc=$?
        times >"$6"
        exit $rc' run_wrk $((secs + 30)) "$BACKEND_CPU" "$secs" "$BENCH_TMP/report.lua" \
        "http://127.0.0.1:$port/16m.bin" "$out.times" >"$out" 2>&1 &
    pid=$!
    bench_track "$pid"
    wait "$pid" || rc=$?
    bench_stop_pid "$pid"
    [[ $rc -eq 0 ]] || bench_die "wrk failed (exit $rc$([[ $rc -eq 124 ]] && echo ': timed out')): $(cat "$out")"
    grep -q '^BENCH ' "$out" || bench_die "no BENCH line in wrk output: $(cat "$out")"
    # second line of `times`: children's user and system time, e.g. "0m1.234s 0m0.567s"
    WRK_TICKS=$(awk -v tk="$CLK_TCK" 'NR == 2 {
        split($1, u, /[ms]/); split($2, y, /[ms]/)
        printf "%d\n", ((u[1] * 60 + u[2]) + (y[1] * 60 + y[2])) * tk + 0.5 }' "$out.times")
    [[ -n $WRK_TICKS ]] || WRK_TICKS=0
}

# wrk_field OUTFILE KEY
wrk_field() { sed -n "s/^BENCH .*\b$2=\([0-9]*\).*/\1/p" "$1"; }

# ---------------------------------------------------------------- mode l4

FILE_SIZE=$((16 * 1024 * 1024))

l4_port() {
    case $1 in
        direct) echo "$NGINX_PORT" ;;
        haproxy) echo "$HAPROXY_PORT" ;;
        spillway) echo "$SPILLWAY_PORT" ;;
    esac
}

l4_proxy_pid() {
    case $1 in
        direct) echo "" ;;
        haproxy) echo "$HAPROXY_PID" ;;
        spillway) echo "$SPILLWAY_PID" ;;
    esac
}

# l4_measure TARGET ROUND: one measured run, appends one CSV row.
l4_measure() {
    local target=$1 round=$2 port ppid out samples stop spid
    port=$(l4_port "$target")
    ppid=$(l4_proxy_pid "$target")
    out=$BENCH_TMP/wrk-$target-$round.out
    samples=$BENCH_TMP/threads-$target-$round.txt
    stop=$BENCH_TMP/stop-$target-$round
    local p0=0 p1=0 n0 n1
    if [[ -n $ppid ]]; then
        kill -0 "$ppid" 2>/dev/null || bench_die "$target (pid $ppid) is no longer running"
        : >"$samples"
        bench_thread_sampler "$ppid" "$samples" "$stop" $((SECONDS_PER_RUN + 40)) &
        spid=$!
        bench_track "$spid"
        p0=$(bench_cpu_ticks "$ppid")
    fi
    n0=$(bench_cpu_ticks_sum "${NGINX_PIDS[@]}")
    local c0b0 c0t0 c1b0 c1t0 c0b1 c0t1 c1b1 c1t1
    read -r c0b0 c0t0 < <(bench_cpu_busy "$PROXY_CPU")
    read -r c1b0 c1t0 < <(bench_cpu_busy "$BACKEND_CPU")

    run_wrk "$port" "$SECONDS_PER_RUN" "$out"

    read -r c0b1 c0t1 < <(bench_cpu_busy "$PROXY_CPU")
    read -r c1b1 c1t1 < <(bench_cpu_busy "$BACKEND_CPU")
    n1=$(bench_cpu_ticks_sum "${NGINX_PIDS[@]}")
    local threads="" names="" iou=""
    if [[ -n $ppid ]]; then
        p1=$(bench_cpu_ticks "$ppid")
        touch "$stop"
        wait "$spid" 2>/dev/null || true
        bench_stop_pid "$spid"
        read -r threads names iou < <(bench_thread_summary "$samples")
        kill -0 "$ppid" 2>/dev/null || bench_die "$target (pid $ppid) died during the run"
    fi

    local bytes dur reqs errs
    bytes=$(wrk_field "$out" bytes)
    dur=$(wrk_field "$out" duration_us)
    reqs=$(wrk_field "$out" requests)
    errs=$(($(wrk_field "$out" err_connect) + $(wrk_field "$out" err_read) + $(wrk_field "$out" err_write) + $(wrk_field "$out" err_status) + $(wrk_field "$out" err_timeout)))

    local row
    row=$(awk -v tk="$CLK_TCK" -v b="$bytes" -v d="$dur" -v p="$((p1 - p0))" -v n="$((n1 - n0))" \
        -v hasp="${ppid:+1}" 'BEGIN {
            gib = b / 1073741824; s = d / 1e6
            gps = (s > 0) ? gib / s : 0
            pcpu = hasp ? sprintf("%.2f", p / tk) : ""
            pper = (hasp && gib > 0) ? sprintf("%.4f", p / tk / gib) : ""
            nper = (gib > 0) ? sprintf("%.4f", n / tk / gib) : ""
            printf "%.6f,%.4f,%s,%s,%s\n", s, gps, pcpu, pper, nper }')
    local dur_s gibps pcpu pper nper
    IFS=, read -r dur_s gibps pcpu pper nper <<<"$row"
    # Noise indicators: how busy the proxy CPU was with anything but the proxy
    # (other processes, interrupts), and how busy the nginx+wrk CPU was.
    local foreign0 busy1 foreign1 noise
    foreign0=$(awk -v b="$((c0b1 - c0b0))" -v t="$((c0t1 - c0t0))" -v p="$((p1 - p0))" \
        'BEGIN {f = (t > 0) ? 100 * (b - p) / t : 0; if (f < 0) f = 0; printf "%.0f", f}')
    busy1=$(awk -v b="$((c1b1 - c1b0))" -v t="$((c1t1 - c1t0))" 'BEGIN {printf "%.0f", (t > 0) ? 100 * b / t : 0}')
    foreign1=$(awk -v b="$((c1b1 - c1b0))" -v t="$((c1t1 - c1t0))" -v o="$((n1 - n0 + WRK_TICKS))" \
        'BEGIN {f = (t > 0) ? 100 * (b - o) / t : 0; if (f < 0) f = 0; printf "%.0f", f}')
    # noise: foreign load on the CPUs this target uses (direct does not use CPU 0)
    if [[ -n $ppid ]]; then
        noise=$((foreign0 > foreign1 ? foreign0 : foreign1))
    else
        noise=$foreign1
    fi
    local wper
    wper=$(awk -v tk="$CLK_TCK" -v b="$bytes" -v w="$WRK_TICKS" 'BEGIN {g = b / 1073741824; printf "%.4f", (g > 0) ? w / tk / g : 0}')
    echo "l4,$round,$target,$bytes,$dur_s,$reqs,$errs,$gibps,$pcpu,$pper,$nper,$threads,$names,$iou,$foreign0,$busy1,$foreign1,$noise,$wper" >>"$CSV"

    local extra=""
    [[ -n $ppid ]] && extra=" | proxy CPU ${pcpu}s = ${pper} s/GiB | threads $threads ($names)"
    bench_log "round $round $(printf '%-8s' "$target") $gibps GiB/s | $reqs req | nginx ${nper} s/GiB, wrk ${wper} s/GiB$extra | foreign load: CPU$PROXY_CPU ${foreign0}% CPU$BACKEND_CPU ${foreign1}% (CPU$BACKEND_CPU busy ${busy1}%)"
    [[ $errs -eq 0 ]] || bench_log "WARNING: $target round $round: $errs wrk errors"
    if [[ -n $iou && $iou -gt 0 ]]; then
        bench_log "WARNING: $target round $round: up to $iou io_uring worker threads (iou-wrk) seen"
    fi
}

# l4_table MAXNOISE: the medians table over the runs whose noise % (foreign load
# on the CPUs they use) is at most MAXNOISE (100 = all runs); leaves the medians in MG/MC and counts in MN.
declare -A MG MC MN MA
l4_table() {
    local maxf=$1 t g_direct="" c_haproxy=""
    for t in "${TARGET_LIST[@]}"; do
        MG[$t]=$(awk -F, -v t="$t" -v m="$maxf" 'NR > 1 && $3 == t && $18 <= m {print $8}' "$CSV" | bench_median)
        MC[$t]=$(awk -F, -v t="$t" -v m="$maxf" 'NR > 1 && $3 == t && $18 <= m && $10 != "" {print $10}' "$CSV" | bench_median)
        MN[$t]=$(awk -F, -v t="$t" -v m="$maxf" 'NR > 1 && $3 == t && $18 <= m' "$CSV" | wc -l)
        # everything this benchmark ran, per GiB: proxy + nginx + wrk
        MA[$t]=$(awk -F, -v t="$t" -v m="$maxf" 'NR > 1 && $3 == t && $18 <= m {print $10 + $11 + $19}' "$CSV" | bench_median)
    done
    has_target direct && g_direct=${MG[direct]}
    has_target haproxy && c_haproxy=${MC[haproxy]}
    echo "| target | runs | GiB/s (median) | CPU s/GiB (median) | GiB/s ÷ direct | CPU/GiB ÷ HAProxy | proxy+nginx+wrk CPU s/GiB |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    for t in "${TARGET_LIST[@]}"; do
        awk -v t="$t" -v n="${MN[$t]}" -v g="${MG[$t]}" -v c="${MC[$t]}" -v gd="$g_direct" -v ch="$c_haproxy" -v a="${MA[$t]}" 'BEGIN {
            gs = (g == "nan") ? "—" : sprintf("%.3f", g)
            cs = (c == "nan") ? "—" : sprintf("%.3f", c)
            rg = (g != "nan" && gd != "" && gd != "nan" && gd + 0 > 0) ? sprintf("%.3f", g / gd) : "—"
            rc = (c != "nan" && ch != "" && ch != "nan" && ch + 0 > 0) ? sprintf("%.3f", c / ch) : "—"
            as = (a == "nan") ? "—" : sprintf("%.3f", a)
            printf "| %s | %d | %s | %s | %s | %s | %s |\n", t, n, gs, cs, rg, rc, as }'
    done
}

# l4_goals: the project's goals from the medians in MG/MC
l4_goals() {
    awk -v sc="${MC[spillway]}" -v hc="${MC[haproxy]}" -v sg="${MG[spillway]}" -v dg="${MG[direct]}" 'BEGIN {
        if (sc != "nan" && hc != "nan" && hc > 0) {
            rc = sc / hc
            printf "- spillway/HAProxy CPU per GiB: %.3f (goal ≤ 0.60: %s)\n", rc, (rc <= 0.60 ? "met" : "missed")
        } else print "- spillway/HAProxy CPU per GiB: n/a"
        if (sg != "nan" && dg != "nan" && dg > 0) {
            rg = sg / dg
            printf "- spillway/direct GiB/s: %.3f (goal ≥ 0.97: %s)\n", rg, (rg >= 0.97 ? "met" : "missed")
        } else print "- spillway/direct GiB/s: n/a"
    }'
}

l4_summary() {
    local md=$1 quiet=$QUIET_PCT
    {
        echo "All runs:"
        echo
        l4_table 100
        echo
        echo "CPU s/GiB is the proxy process's utime+stime (all threads) per GiB delivered to the client;"
        echo "direct has no proxy. The last column adds nginx's and wrk's CPU per GiB: on loopback the"
        echo "TCP work of a transfer is split between sender and receiver by timing, so a proxy can look"
        echo "cheaper by leaving more of it to the processes on CPU$BACKEND_CPU."
        echo "$RUNS rounds × ${SECONDS_PER_RUN} s, targets alternated within each round."
        if has_target spillway && has_target haproxy && has_target direct; then
            echo
            l4_goals
            # the same ratios taken within each round (paired), then the median
            local paired_c paired_g
            paired_c=$(awk -F, 'NR > 1 {v[$2 "," $3] = $10; r[$2] = 1}
                END {for (k in r) if (v[k ",haproxy"] > 0) print v[k ",spillway"] / v[k ",haproxy"]}' "$CSV" | bench_median)
            paired_g=$(awk -F, 'NR > 1 {v[$2 "," $3] = $8; r[$2] = 1}
                END {for (k in r) if (v[k ",direct"] > 0) print v[k ",spillway"] / v[k ",direct"]}' "$CSV" | bench_median)
            printf -- '- medians of the per-round ratios: CPU per GiB %.3f, GiB/s %.3f\n' "$paired_c" "$paired_g"
        fi
        echo
        echo "Quiet runs only (foreign load ≤ ${quiet}% on the CPUs the run uses):"
        echo
        l4_table "$quiet"
        if has_target spillway && has_target haproxy && has_target direct; then
            echo
            l4_goals
        fi
        echo
        echo "Raw runs:"
        echo
        echo "| round | target | GiB/s | proxy CPU s | CPU s/GiB | nginx CPU s/GiB | wrk CPU s/GiB | requests | errors | proxy threads (max) | thread names | iou-wrk (max) | CPU$PROXY_CPU foreign % | CPU$BACKEND_CPU foreign % | CPU$BACKEND_CPU busy % |"
        echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|"
        awk -F, 'NR > 1 {
            printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $2, $3, $8,
                ($9 == "" ? "—" : $9), ($10 == "" ? "—" : $10), $11, $19, $6, $7,
                ($12 == "" ? "—" : $12), ($13 == "" ? "—" : $13), ($14 == "" ? "—" : $14), $15, $17, $16 }' "$CSV"
        echo
        echo "Foreign %: share of a CPU busy with anything but this benchmark's processes (the proxy on"
        echo "CPU$PROXY_CPU; nginx and wrk on CPU$BACKEND_CPU), i.e. other processes, interrupts and kernel threads."
        echo "A run is quiet when the foreign share of the CPUs it uses is at most ${QUIET_PCT}%."
    } >"$md"
}

mode_l4() {
    need nginx haproxy wrk taskset ss curl awk pgrep timeout
    check_cpus
    CLK_TCK=$(getconf CLK_TCK)
    BENCH_TMP=$(mktemp -d /tmp/spillway-bench.XXXXXX)

    # build first: a failed build should not leave servers running for nothing
    if has_target spillway; then
        SPILLWAY_BIN=$(spillway_bin)
        # run a private copy: a rebuild by someone else mid-run must not change what is measured
        mkdir -p "$BENCH_TMP/spillway"
        cp "$SPILLWAY_BIN" "$BENCH_TMP/spillway/spillway"
        SPILLWAY_SHA=$(sha256sum "$BENCH_TMP/spillway/spillway" | cut -c1-12)
        SPILLWAY_BUILT=$(date -u -r "$SPILLWAY_BIN" '+%Y-%m-%d %H:%M UTC')
    fi

    mkdir -p "$BENCH_TMP/nginx/www"
    head -c "$FILE_SIZE" /dev/urandom >"$BENCH_TMP/nginx/www/16m.bin"
    write_wrk_lua

    start_nginx
    check_download direct "$NGINX_PORT" "$FILE_SIZE"
    if has_target haproxy; then
        start_haproxy
        check_download haproxy "$HAPROXY_PORT" "$FILE_SIZE"
    fi
    if has_target spillway; then
        start_spillway
        check_download spillway "$SPILLWAY_PORT" "$FILE_SIZE"
    fi

    local stamp results
    stamp=$(date +%Y%m%d-%H%M%S)
    results=${RESULTS_DIR:-$ROOT/target/bench-results}
    mkdir -p "$results"
    CSV=$results/l4-$stamp.csv
    echo "mode,round,target,bytes,duration_s,requests,errors,gib_per_s,proxy_cpu_s,proxy_cpu_s_per_gib,nginx_cpu_s_per_gib,proxy_threads_max,proxy_thread_names,iou_wrk_max,cpu0_foreign_pct,cpu1_busy_pct,cpu1_foreign_pct,noise_pct,wrk_cpu_s_per_gib" >"$CSV"

    local t r
    LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
    if [[ $WARMUP -gt 0 ]]; then
        bench_log "warm-up: ${WARMUP}s per target"
        for t in "${TARGET_LIST[@]}"; do
            run_wrk "$(l4_port "$t")" "$WARMUP" "$BENCH_TMP/wrk-warmup-$t.out"
        done
    fi
    bench_log "measuring: $RUNS rounds × ${SECONDS_PER_RUN}s × (${TARGET_LIST[*]})"
    for ((r = 1; r <= RUNS; r++)); do
        for t in "${TARGET_LIST[@]}"; do
            wait_quiet "$SETTLE"
            l4_measure "$t" "$r"
        done
    done

    local md=$results/l4-$stamp.md
    {
        echo "# spillway bench: l4 (16 MiB downloads), $(date -u '+%Y-%m-%d %H:%M UTC')"
        echo
        echo "command: bench/compare.sh l4 --runs $RUNS --seconds $SECONDS_PER_RUN --warmup $WARMUP --settle $SETTLE --haproxy-splice $HAPROXY_SPLICE --targets $TARGETS"
        echo "kernel: $(uname -r); CPUs: $(nproc --all); nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'); wrk $(wrk -v 2>&1 | awk 'NR == 1 {print $2}')"
        has_target haproxy && echo "haproxy: $HAPROXY_VERSION (splice: $HAPROXY_SPLICE, maxconn $HAPROXY_MAXCONN)"
        has_target spillway && echo "spillway: ${SPILLWAY_VERSION:-?} ($SPILLWAY_BIN, built $SPILLWAY_BUILT, sha256 $SPILLWAY_SHA…)"
        echo "load average before/after: $LOAD_BEFORE / $(cut -d' ' -f1-3 /proc/loadavg)"
        echo
    } >"$md.head"
    l4_summary "$md.body"
    cat "$md.head" "$md.body" >"$md"
    rm -f "$md.head" "$md.body"
    echo
    cat "$md"
    echo
    bench_log "raw CSV: $CSV"
    bench_log "summary: $md"
}

main() {
    parse_args "$@"
    bench_install_traps
    case $MODE in
        l4) mode_l4 ;;
        *) bench_die "unknown mode '$MODE' (known: l4)" ;;
    esac
}

main "$@"
