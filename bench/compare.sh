#!/usr/bin/env bash
# Compare spillway against HAProxy, nginx and no proxy at all, on this machine.
#
#   bench/compare.sh l4|l7|churn|tls|idle|drivers|all [--runs N] [--seconds S] [--warmup S] [--settle S]
#                       [--load loadgen|wrk] [--haproxy-splice auto|response|both|off]
#                       [--targets direct,haproxy,nginx,spillway]
#
# spillway runs with its default configuration (driver = "auto"); every CSV row of a spillway
# target records, in column proxy_driver, the driver and io_uring ring flags each shard reported
# at start (its "shard started" log lines). Modes l7 and churn also take the targets
# spillway-io_uring and spillway-epoll (the same binary with that driver set); mode drivers runs
# l7 and churn with haproxy, spillway (auto), spillway-io_uring and spillway-epoll side by side.
#
# Modes are functions named mode_<name> (l4, l7, churn, tls, idle, all); add more the same way.
# Mode all runs l7, churn, l4, tls and idle one after the other (each as its own invocation of
# this script) and writes one combined table (markdown) and the JSON behind it.
#
# The load: the bundled load generator (loadgen, closed loop, one thread on CPU 1) by default;
# `--load wrk` drives l4, l7, churn and the keep-alive part of tls with wrk instead. The
# handshake part of tls always uses loadgen (wrk resumes sessions on reconnect).
#
# Layout (2 CPUs): the proxy under test runs on CPU 0; the backend (nginx) and
# the client (wrk, loadgen) share CPU 1. Targets run alternately inside every round
# (direct, haproxy, nginx, spillway, direct, ...) so background noise hits them alike,
# and the summary reports medians over the rounds.
#
# Environment:
#   SPILLWAY_BIN    use this binary instead of `cargo build --release --bin spillway`
#   LOADGEN_BIN     use this loadgen instead of `cargo build --release -p spillway-loadgen`
#   TLS_HS_CONNS    mode tls: concurrent connections of the handshake runs (default 32)
#   TLS_PARTS       mode tls: keepalive, handshakes or both (default keepalive,handshakes)
#   SPILLWAY_GROUP_EXTRA  lines added to spillway's [[target_group]] (e.g.
#                   'max_connections_per_target = 100000')
#   BENCH_KEEP_TMP  1 = keep the temp dir (configs, logs) even on success
#   RESULTS_DIR     where the CSV and summary go (default: target/bench-results)
#   SPILLWAY_RUNTIME_EXTRA  lines added to spillway's [runtime] table (e.g. driver = "epoll")
#   IDLE_CONNS      mode idle: connection counts (default 1000,10000; mode all: 10000)
#
# Needs: nginx, haproxy, taskset, ss, curl, python3 (--load wrk: wrk; tls: openssl; l4 with target
# nginx: nginx's stream module, package libnginx-mod-stream). Only 127.0.0.1 is
# ever used; every process started here is tracked by PID and stopped on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib/common.sh
source "$ROOT/bench/lib/common.sh"

PROXY_CPU=0
BACKEND_CPU=1
# spillway with the driver set by hand, beside the default (auto): modes l7, churn and drivers
SPILLWAY_DRIVER_TARGETS="spillway-io_uring,spillway-epoll"
# Per spillway target (spillway, spillway-io_uring, spillway-epoll): port, pid, config, log, and
# the driver its shards reported.
declare -A SPW_PORT SPW_PID SPW_CONF SPW_LOG SPW_DRIVER

usage() {
    cat >&2 <<'EOF'
usage: bench/compare.sh MODE [--runs N] [--seconds S] [--warmup S] [--settle S]
                            [--load loadgen|wrk] [--haproxy-splice auto|response|both|off] [--targets LIST]

modes:
  l4    TCP proxying of a 16 MiB download: nginx <- {direct, haproxy, nginx, spillway} <- client (-c4);
        the nginx proxy is nginx's stream module (libnginx-mod-stream), which copies (no splice)
  l7    HTTP keep-alive, 100-byte GETs, client -t1 -c64; haproxy mode http, http-reuse always;
        nginx as a reverse proxy (upstream keepalive 64)
  churn as l7 with 'Connection: close' on every request
  tls   HTTPS in front of the l7 backend, {haproxy, nginx, spillway} terminating TLS (one ECDSA
        P-256 certificate): keep-alive requests (client -t1 -c64 over TLS) and new full handshakes
        per second (loadgen --new-conn --no-resume; env TLS_HS_CONNS=32,
        TLS_PARTS=keepalive,handshakes)
  idle  RSS of the proxy per idle keep-alive client connection (bench/idle_conns.py;
        env IDLE_CONNS=1000,10000 IDLE_HOLD=8 IDLE_CONCURRENCY=200)
  drivers
        l7 and churn with haproxy and spillway's three drivers side by side: spillway (the default,
        auto), spillway-io_uring, spillway-epoll; one table of both in RESULTS_DIR/drivers-STAMP.md
  all   l7, churn, l4, tls and idle (IDLE_CONNS=10000) in turn with the same options, then one
        combined table (markdown) and its JSON in RESULTS_DIR/all-STAMP/

options:
  --runs N        rounds (each round runs every target once; default 5)
  --seconds S     length of each measured run (default 10)
  --warmup S      unrecorded warm-up per target before the first round (default 2, 0 = none)
  --load loadgen|wrk
                  the client of l4, l7, churn and tls keep-alive: the bundled loadgen (default;
                  closed loop, -t 1 --cpus 1) or wrk (-t1); tls handshakes always use loadgen
  --targets LIST  comma-separated subset of direct,haproxy,nginx,spillway (default: all the mode
                  has: l4, l7, churn all four; tls haproxy,nginx,spillway;
                  idle haproxy,spillway); l7 and churn also take spillway-io_uring and
                  spillway-epoll
  --settle S      before each run, wait up to S s for both CPUs to be <25% busy and no rustc
                  to run (default 20, 0 = no wait)
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
TARGETS=""
LOAD=loadgen

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
            --load) LOAD=${2:?}; shift 2 ;;
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
    [[ $LOAD =~ ^(loadgen|wrk)$ ]] || bench_die "--load must be loadgen or wrk"
    TARGETS_GIVEN=$TARGETS
    local t supported
    supported=$(mode_targets "$MODE")
    # no --targets: every target the mode has
    [[ -n $TARGETS ]] || TARGETS=$supported
    IFS=, read -r -a TARGET_LIST <<<"$TARGETS"
    local allowed=$supported
    [[ $MODE == l7 || $MODE == churn ]] && allowed+=",$SPILLWAY_DRIVER_TARGETS"
    for t in "${TARGET_LIST[@]}"; do
        case $t in direct | haproxy | nginx | spillway | spillway-io_uring | spillway-epoll) ;; *) bench_die "unknown target '$t'" ;; esac
        [[ ",$allowed," == *",$t,"* ]] || bench_die "target '$t' is not available in mode $MODE (it has $allowed)"
    done
}

# mode_targets MODE: the targets MODE can run, in their default order. nginx is the
# reverse proxy (l7, churn, tls) or the stream (TCP) proxy (l4); tls has no direct (the
# backend speaks plain HTTP); idle skips direct (it has no proxy to measure).
mode_targets() {
    case $1 in
        l4 | l7 | churn) echo "direct,haproxy,nginx,spillway" ;;
        tls) echo "haproxy,nginx,spillway" ;;
        idle) echo "direct,haproxy,spillway" ;;
        drivers) echo "haproxy,spillway,$SPILLWAY_DRIVER_TARGETS" ;;
        *) echo "direct,haproxy,nginx,spillway" ;;
    esac
}

need() {
    local c
    for c in "$@"; do command -v "$c" >/dev/null || bench_die "'$c' not found (apt-get install -y haproxy nginx wrk)"; done
}

# The module of nginx's TCP proxy (Debian: package libnginx-mod-stream), loaded by the
# nginx of target nginx in mode l4.
NGINX_STREAM_MODULE=/usr/lib/nginx/modules/ngx_stream_module.so

# need_nginx_stream: nginx's stream module must be there for target nginx in mode l4.
need_nginx_stream() {
    [[ -f $NGINX_STREAM_MODULE ]] ||
        bench_die "target nginx of mode l4 needs nginx's stream module $NGINX_STREAM_MODULE, which is missing (apt-get install -y libnginx-mod-stream), or leave nginx out: --targets direct,haproxy,spillway"
}

# need_load: what the chosen --load needs (wrk, or python3 to read loadgen's JSON), and for
# loadgen a private copy of it in the temp dir.
need_load() {
    if [[ $LOAD == wrk ]]; then
        need wrk
    else
        need python3
        copy_loadgen
    fi
}

# client_version: the load generator's name and version, for the summaries.
client_version() {
    if [[ $LOAD == wrk ]]; then
        echo "wrk $(wrk -v 2>&1 | awk 'NR == 1 {print $2}')"
    else
        echo "loadgen $("$LOADGEN" --version 2>/dev/null | awk '{print $2}') ($LOADGEN_SRC, sha256 $LOADGEN_SHA…)"
    fi
}

has_target() { [[ ",$TARGETS," == *",$1,"* ]]; }
# has_spillway: any spillway target (spillway, spillway-io_uring, spillway-epoll)
has_spillway() { [[ ",$TARGETS," == *",spillway"* ]]; }

check_cpus() {
    local n
    n=$(nproc --all)
    [[ $n -ge 2 ]] || bench_die "needs at least 2 CPUs (have $n)"
    taskset -c "$PROXY_CPU,$BACKEND_CPU" true 2>/dev/null || bench_die "cannot pin to CPUs $PROXY_CPU and $BACKEND_CPU"
}

# ---------------------------------------------------------------- processes

# nginx_main_conf DIR WORKER_CONNECTIONS: the main context every nginx of the bench shares
# (one worker, in the foreground, its pid and error log under DIR; root runs it as root).
nginx_main_conf() {
    local dir=$1 wc=$2
    [[ $EUID -eq 0 ]] && echo "user root;"
    cat <<EOF
worker_processes 1;
worker_rlimit_nofile $((wc * 2 + 64));
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections $wc; }
EOF
}

# nginx_temp_paths DIR: the http context's temp paths, under DIR/tmp (not the system's).
nginx_temp_paths() {
    local dir=$1
    cat <<EOF
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
EOF
}

# launch_nginx_proxy DIR WHAT: starts the nginx proxy configured in DIR on the proxy CPU
# (NGINXP_PORT), sets NGINXP_PIDS (master, worker) and NGINXP_WORKER, and logs WHAT it is.
launch_nginx_proxy() {
    local dir=$1 what=$2
    launch_nginx "$dir" "$PROXY_CPU" "$NGINXP_PORT"
    NGINXP_PIDS=("${LAUNCHED_PIDS[@]}")
    NGINXP_WORKER=${LAUNCHED_PIDS[1]}
    bench_log "nginx $what pid ${NGINXP_PIDS[0]} (worker $NGINXP_WORKER) on 127.0.0.1:$NGINXP_PORT, CPU $PROXY_CPU"
}

# nginx serving $BENCH_TMP/www on 127.0.0.1:$NGINX_PORT, pinned to the backend CPU.
start_nginx() {
    local dir=$BENCH_TMP/nginx
    mkdir -p "$dir/www" "$dir/tmp"
    NGINX_PORT=$(bench_free_port)
    NGINX_STATUS_PORT=$(bench_free_port)
    local wc=${NGINX_WORKER_CONNECTIONS:-1024}
    cat >"$dir/nginx.conf" <<EOF
$(nginx_main_conf "$dir" "$wc")
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    default_type application/octet-stream;
$(nginx_temp_paths "$dir")
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $dir/www;
    }
    # nginx's own counters (accepted connections, requests), read before and
    # after each run to count the connections a proxy opened to the backend
    server {
        listen 127.0.0.1:$NGINX_STATUS_PORT;
        location = /status { stub_status; }
    }
}
EOF
    launch_nginx "$dir" "$BACKEND_CPU" "$NGINX_PORT"
    NGINX_PID=${LAUNCHED_PIDS[0]}
    NGINX_PIDS=("${LAUNCHED_PIDS[@]}")
    bench_log "nginx $(nginx -v 2>&1 | sed 's/.*nginx\///') pid $NGINX_PID (workers: ${NGINX_PIDS[*]:1}) on 127.0.0.1:$NGINX_PORT, CPU $BACKEND_CPU"
}

# launch_nginx DIR CPU PORT: checks DIR/nginx.conf, starts nginx on it pinned to CPU (the
# workers inherit the affinity), waits until it listens on PORT and tracks the master and
# its workers, which it leaves in LAUNCHED_PIDS (master first).
launch_nginx() {
    local dir=$1 cpu=$2 port=$3 pid w
    nginx -t -q -e "$dir/error.log" -p "$dir/" -c "$dir/nginx.conf" ||
        bench_die "nginx rejected its config $dir/nginx.conf: $(cat "$dir/error.log")"
    taskset -c "$cpu" nginx -e "$dir/error.log" -p "$dir/" -c "$dir/nginx.conf" \
        >"$dir/stdout.log" 2>&1 &
    pid=$!
    bench_track "$pid"
    bench_wait_port "$port" 10 "$pid" ||
        bench_die "nginx ($dir) did not listen on $port: $(cat "$dir/error.log")"
    # the worker(s): started by us, tracked too, and counted in that nginx's CPU. The master
    # may listen before it has forked them: look for up to 5 s.
    LAUNCHED_PIDS=("$pid")
    local i workers=""
    for ((i = 0; i < 50; i++)); do
        workers=$(pgrep -P "$pid" || true)
        [[ -n $workers ]] && break
        sleep 0.1
    done
    for w in $workers; do
        bench_track "$w"
        LAUNCHED_PIDS+=("$w")
    done
    [[ ${#LAUNCHED_PIDS[@]} -ge 2 ]] || bench_die "nginx ($dir) pid $pid has no worker process"
}

# nginx as a reverse proxy (target `nginx`): a second nginx instance with one worker, pinned
# to the proxy CPU like HAProxy and spillway, passing every request to the backend nginx over
# a pool of keep-alive connections (`upstream` with `keepalive 64`, HTTP/1.1, no Connection
# header sent upstream; the pooled connections are not retired after nginx's default of 1000
# requests, as HAProxy's and spillway's are not either). With NGINX_PROXY_TLS=1 its listener
# terminates TLS with the bench certificate ($TLS_PEM) and the client's cipher order.
start_nginx_proxy() {
    local dir=$BENCH_TMP/nginx-proxy ssl="" ssl_lines="" what=http
    mkdir -p "$dir/tmp"
    NGINXP_PORT=$(bench_free_port)
    if [[ ${NGINX_PROXY_TLS:-0} == 1 ]]; then
        ssl=" ssl"
        what=https
        # nginx 1.22 leaves TLS 1.3 out of its default ssl_protocols
        ssl_lines="ssl_certificate $TLS_PEM;
        ssl_certificate_key $TLS_PEM;
        ssl_protocols TLSv1.2 TLSv1.3;"
    fi
    cat >"$dir/nginx.conf" <<EOF
$(nginx_main_conf "$dir" 4096)
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
$(nginx_temp_paths "$dir")
    upstream backend {
        server 127.0.0.1:$NGINX_PORT;
        keepalive 64;
        keepalive_requests 1000000;
        keepalive_timeout 120s;
    }
    server {
        listen 127.0.0.1:$NGINXP_PORT$ssl;
        $ssl_lines
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
    launch_nginx_proxy "$dir" "proxy ($what, upstream keepalive 64)"
}

# nginx as a TCP proxy (target `nginx` of mode l4): a third nginx instance with one worker,
# its own nginx.conf, pinned to the proxy CPU like HAProxy and spillway, loading the stream
# module and passing every connection to the backend nginx (`stream { server { listen;
# proxy_pass; } }`, the stream defaults otherwise: proxy_buffer_size 16k). nginx's stream
# proxy has no splice option: it copies every byte through user space (recv into its buffer,
# send out), where HAProxy (splice-auto) and spillway splice.
start_nginx_stream() {
    local dir=$BENCH_TMP/nginx-stream
    mkdir -p "$dir/tmp"
    NGINXP_PORT=$(bench_free_port)
    cat >"$dir/nginx.conf" <<EOF
load_module $NGINX_STREAM_MODULE;
$(nginx_main_conf "$dir" 4096)
stream {
    server {
        listen 127.0.0.1:$NGINXP_PORT;
        proxy_pass 127.0.0.1:$NGINX_PORT;
    }
}
EOF
    launch_nginx_proxy "$dir" "stream proxy (TCP, copies, no splice)"
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
    if [[ ${HAPROXY_MODE:-tcp} == http ]]; then
        start_haproxy_http "$dir"
        return
    fi
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
    launch_haproxy "$dir" ""
}

# HAProxy in `mode http` (modes l7, churn, idle): keep-alive on both sides,
# backend connections shared between client connections (`http-reuse always`),
# no splicing (small responses). maxconn ${HAPROXY_HTTP_MAXCONN:-12000}: two fds per
# connection would want ~24000 > the container's hard limit of 20000, which is
# fine for 10,000 client connections and a few server ones; `no strict-limits`
# lets HAProxy start with the fds it can get (it warns).
#
# With HAPROXY_TLS=1 (mode tls) the listener terminates TLS with the bench certificate
# ($TLS_PEM, certificate and key in one file), HAProxy's default (server-preferred) cipher
# order, and a stats socket on 127.0.0.1:$HAPROXY_STATS_PORT for `show info` (handshake counts).
start_haproxy_http() {
    local dir=$1 maxconn=${HAPROXY_HTTP_MAXCONN:-12000} bind_ssl="" stats="" what="mode http"
    HAPROXY_MAXCONN=$maxconn
    if [[ ${HAPROXY_TLS:-0} == 1 ]]; then
        bind_ssl=" ssl crt $TLS_PEM"
        HAPROXY_STATS_PORT=$(bench_free_port)
        stats="stats socket ipv4@127.0.0.1:$HAPROXY_STATS_PORT level user"
        what="mode http, ssl"
    fi
    cat >"$dir/haproxy.cfg" <<EOF
global
    nbthread 1
    cpu-map 1/1 $PROXY_CPU
    maxconn $maxconn
    no strict-limits
    $stats

defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout http-request 10s
    timeout http-keep-alive 60s

listen l7
    bind 127.0.0.1:$HAPROXY_PORT$bind_ssl
    server nginx 127.0.0.1:$NGINX_PORT
EOF
    launch_haproxy "$dir" " ($what, maxconn $maxconn)"
}

# haproxy_info FIELD...: the values of these `show info` fields from HAProxy's stats
# socket (mode tls), one line, "-" for a field it did not report.
haproxy_info() {
    local out
    out=$( (exec 3<>"/dev/tcp/127.0.0.1/$HAPROXY_STATS_PORT" && printf 'show info\n' >&3 && timeout 5 cat <&3) 2>/dev/null) || true
    awk -v want="$*" 'BEGIN {n = split(want, w, " ")} {sub(/\r$/, ""); i = index($0, ": "); if (i) v[substr($0, 1, i - 1)] = substr($0, i + 2)}
        END {for (k = 1; k <= n; k++) printf "%s%s", (k > 1 ? " " : ""), ((w[k] in v) ? v[w[k]] : "-"); print ""}' <<<"$out"
}

# Checks $dir/haproxy.cfg, starts HAProxy on it pinned to the proxy CPU, tracks its PID and
# waits until it listens. $2 is added to the log line (what kind of HAProxy this is).
launch_haproxy() {
    local dir=$1 what=$2
    haproxy -q -c -f "$dir/haproxy.cfg" >"$dir/check.log" 2>&1 ||
        bench_die "haproxy rejected its config: $(cat "$dir/check.log")"
    taskset -c "$PROXY_CPU" haproxy -db -f "$dir/haproxy.cfg" >"$dir/haproxy.log" 2>&1 &
    HAPROXY_PID=$!
    bench_track "$HAPROXY_PID"
    bench_wait_port "$HAPROXY_PORT" 10 "$HAPROXY_PID" ||
        bench_die "haproxy did not listen on $HAPROXY_PORT: $(cat "$dir/haproxy.log")"
    HAPROXY_VERSION=$(haproxy -v 2>/dev/null | awk 'NR == 1 {print $3}')
    bench_log "haproxy $HAPROXY_VERSION$what pid $HAPROXY_PID on 127.0.0.1:$HAPROXY_PORT, CPU $PROXY_CPU"
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

# start_spillway [TARGET]: spillway on CPU $PROXY_CPU with its default configuration; TARGET
# spillway-io_uring or spillway-epoll sets that driver (default: spillway, no driver key, so
# auto). Sets SPW_PORT/SPW_PID/SPW_CONF/SPW_LOG/SPW_DRIVER[TARGET], and for TARGET spillway also
# SPILLWAY_PORT, SPILLWAY_PID and SPILLWAY_CONF.
start_spillway() {
    local target=${1:-spillway}
    local dir=$BENCH_TMP/$target bin=$BENCH_TMP/spillway/spillway driver_line=""
    mkdir -p "$dir"
    [[ -x $bin ]] || bin=$(spillway_bin)
    case $target in
        spillway) ;;
        spillway-*) driver_line="driver = \"${target#spillway-}\"" ;;
        *) bench_die "start_spillway: unknown target $target" ;;
    esac
    local port
    port=$(bench_free_port)
    local proto=${SPILLWAY_PROTOCOL:-tcp} name=l4 admin="" tls=""
    if [[ $proto == http || $proto == https ]]; then
        name=l7
        # the admin API on a free port, so the default 127.0.0.1:9900 is never taken
        admin=$'\n[admin]\nlisten = "127.0.0.1:'"$(bench_free_port)"$'"\n'
    fi
    if [[ $proto == https ]]; then
        # the bench certificate; the combined PEM serves as both the certificate and the key
        name=tls
        tls="tls = { cert = \"$TLS_PEM\", key = \"$TLS_PEM\" }"
    fi
    cat >"$dir/$name.toml" <<EOF
[runtime]
threads = 1
pin = false
$driver_line
${SPILLWAY_RUNTIME_EXTRA:-}
$admin
[[listener]]
name = "$name"
bind = "127.0.0.1:$port"
protocol = "$proto"
target_group = "nginx"
$tls

[[target_group]]
name = "nginx"
targets = [ { addr = "127.0.0.1:$NGINX_PORT" } ]
${SPILLWAY_GROUP_EXTRA:-}
EOF
    local conf=$dir/$name.toml log=$dir/spillway.log pid
    taskset -c "$PROXY_CPU" "$bin" -f "$conf" >"$log" 2>&1 &
    pid=$!
    bench_track "$pid"
    SPW_PORT[$target]=$port SPW_PID[$target]=$pid SPW_CONF[$target]=$conf SPW_LOG[$target]=$log
    if [[ $target == spillway ]]; then
        SPILLWAY_PORT=$port SPILLWAY_PID=$pid SPILLWAY_CONF=$conf
    fi
    if ! bench_wait_port "$port" 15 "$pid"; then
        local why="did not listen on 127.0.0.1:$port within 15 s"
        if ! kill -0 "$pid" 2>/dev/null; then
            local st=0
            wait "$pid" || st=$?
            why="exited with status $st before listening on 127.0.0.1:$port"
        fi
        bench_die "$target $why; config $conf; log: $(tail -n 20 "$log")"
    fi
    # The port listens as soon as the control thread has bound it; the shards log their driver
    # when their runtime is up, a moment later.
    local i
    for ((i = 0; i < 100; i++)); do
        SPW_DRIVER[$target]=$(spillway_driver_report "$log")
        [[ -z ${SPW_DRIVER[$target]} ]] || break
        sleep 0.05
    done
    [[ -n ${SPW_DRIVER[$target]} ]] || bench_die "$target logged no 'shard started' line within 5 s; log: $(tail -n 20 "$log")"
    SPILLWAY_VERSION=$("$bin" --version 2>/dev/null | head -n 1 || true)
    bench_log "$target ${SPILLWAY_VERSION:-?} pid $pid on 127.0.0.1:$port, CPU $PROXY_CPU, driver ${SPW_DRIVER[$target]}"
}

# spillway_driver_report LOG: each shard's driver and ring flags from its "shard started" log
# line, as "io_uring[coop_taskrun+single_issuer]" (epoll: "epoll[]"), shards separated by
# spaces; no commas, so it fits a CSV column.
spillway_driver_report() {
    sed 's/\x1b\[[0-9;]*m//g' "$1" | awk '/shard started/ {
        d = ""; f = ""
        for (i = 1; i <= NF; i++) {
            if ($i ~ /^driver=/) { d = substr($i, 8); gsub(/"/, "", d) }
            if ($i ~ /^ring_flags=/) { f = substr($i, 12); gsub(/,/, "+", f) }
        }
        out = out (out == "" ? "" : " ") d "[" f "]"
    } END { print out }'
}

# target_driver TARGET: the driver report of a spillway target, empty for the others.
target_driver() {
    case $1 in
        spillway*) echo "${SPW_DRIVER[$1]:-}" ;;
        *) echo "" ;;
    esac
}

# spillway_versions: the summary head's spillway lines: binary, and each target's driver.
spillway_versions() {
    local t
    for t in "${TARGET_LIST[@]}"; do
        [[ $t == spillway* ]] || continue
        echo "$t: ${SPILLWAY_VERSION:-?} ($SPILLWAY_BIN, built $SPILLWAY_BUILT, sha256 $SPILLWAY_SHA…), config $(basename "${SPW_CONF[$t]:-?}")$([[ $t == spillway ]] && echo " (no driver key: auto)"), driver per shard: ${SPW_DRIVER[$t]:-not started}"
    done
    return 0
}

# One GET through PORT must return 200 and exactly SIZE bytes.
check_download() {
    local name=$1 port=$2 size=$3 out
    out=$(curl -s --max-time 20 -o /dev/null -w '%{http_code} %{size_download}' \
        "http://127.0.0.1:$port/16m.bin") || true
    [[ $out == "200 $size" ]] || bench_die "$name: GET /16m.bin via port $port gave '$out', wanted '200 $size'"
}

# wait_quiet MAXSEC: before a run, wait (at most MAXSEC s) for a 1-s window
# in which both CPUs are less than 25% busy and no rustc runs, so a run does not
# start in the middle of someone else's compile. Proceeds (and says so) when it never is.
wait_quiet() {
    local maxsec=$1 i a0 t0 a1 t1 b0 b1 u0 u1 v0 v1 rc=0
    [[ $maxsec -gt 0 ]] || return 0
    for ((i = 0; i < maxsec; i++)); do
        read -r a0 t0 < <(bench_cpu_busy "$PROXY_CPU")
        read -r a1 t1 < <(bench_cpu_busy "$BACKEND_CPU")
        sleep 1
        read -r b0 u0 < <(bench_cpu_busy "$PROXY_CPU")
        read -r b1 u1 < <(bench_cpu_busy "$BACKEND_CPU")
        v0=$((100 * (b0 - a0) / (u0 - t0 > 0 ? u0 - t0 : 1)))
        v1=$((100 * (b1 - a1) / (u1 - t1 > 0 ? u1 - t1 : 1)))
        rc=$(bench_compilers)
        if [[ $v0 -lt 25 && $v1 -lt 25 && $rc -eq 0 ]]; then return 0; fi
    done
    bench_log "note: CPUs still busy (CPU$PROXY_CPU ${v0}%, CPU$BACKEND_CPU ${v1}%, $rc rustc) after ${maxsec}s; measuring anyway"
}

# ---------------------------------------------------------------- wrk

write_wrk_lua() {
    cat >"$BENCH_TMP/report.lua" <<'EOF'
-- Print wrk's exact totals in one parseable line.
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "BENCH bytes=%d duration_us=%d requests=%d err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d p50_us=%d p99_us=%d\n",
        summary.bytes, summary.duration, summary.requests,
        e.connect, e.read, e.write, e.status, e.timeout,
        latency:percentile(50.0), latency:percentile(99.0)))
end
EOF
}

# run_wrk PORT SECONDS OUTFILE: the client on the backend CPU, bounded in time
# (timeout). A small bash wrapper waits for it and prints its children's CPU
# time (`times`), which run_wrk leaves in WRK_TICKS (clock ticks); on SIGTERM the
# wrapper stops timeout, which stops wrk.
run_wrk() {
    local port=$1 secs=$2 out=$3 pid rc=0
    if [[ $LOAD == loadgen ]]; then
        run_loadgen_http "$port" "$secs" "$out" "http://127.0.0.1:$port/16m.bin" 4 "$FILE_SIZE" --timeout 20s
        WRK_TICKS=$CLIENT_TICKS
        return
    fi
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

# The port a target listens on (direct: the backend nginx itself).
l4_port() {
    case $1 in
        direct) echo "$NGINX_PORT" ;;
        haproxy) echo "$HAPROXY_PORT" ;;
        nginx) echo "$NGINXP_PORT" ;;
        spillway*) echo "${SPW_PORT[$1]}" ;;
    esac
}

# The process that does a proxy's work (sampled for threads, fds, RSS; checked alive):
# for the nginx proxy its worker.
l4_proxy_pid() {
    case $1 in
        direct) echo "" ;;
        haproxy) echo "$HAPROXY_PID" ;;
        nginx) echo "$NGINXP_WORKER" ;;
        spillway*) echo "${SPW_PID[$1]}" ;;
    esac
}

# The processes whose CPU time is the proxy's: for the nginx proxy master and worker.
proxy_cpu_pids() {
    case $1 in
        direct) echo "" ;;
        haproxy) echo "$HAPROXY_PID" ;;
        nginx) echo "${NGINXP_PIDS[*]}" ;;
        spillway*) echo "${SPW_PID[$1]}" ;;
    esac
}

# proxy_ticks TARGET: utime + stime of the proxy's processes, in clock ticks (0 for direct).
proxy_ticks() {
    local -a pids
    read -r -a pids <<<"$(proxy_cpu_pids "$1")"
    if [[ ${#pids[@]} -eq 0 ]]; then echo 0; else bench_cpu_ticks_sum "${pids[@]}"; fi
}

# proxy_ticks_split TARGET: "utime stime" of the proxy's processes, in clock ticks.
proxy_ticks_split() {
    local -a pids
    read -r -a pids <<<"$(proxy_cpu_pids "$1")"
    if [[ ${#pids[@]} -eq 0 ]]; then echo 0 0; else bench_cpu_ticks_split_sum "${pids[@]}"; fi
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
        # the proxy's processes (the nginx proxy: master + worker)
        p0=$(proxy_ticks "$target")
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
        p1=$(proxy_ticks "$target")
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
    echo "l4,$round,$target,$bytes,$dur_s,$reqs,$errs,$gibps,$pcpu,$pper,$nper,$threads,$names,$iou,$foreign0,$busy1,$foreign1,$noise,$wper,$(wrk_field "$out" p50_us),$(wrk_field "$out" p99_us),$(target_driver "$target")" >>"$CSV"

    local extra=""
    [[ -n $ppid ]] && extra=" | proxy CPU ${pcpu}s = ${pper} s/GiB | threads $threads ($names)"
    bench_log "round $round $(printf '%-8s' "$target") $gibps GiB/s | $reqs req | nginx ${nper} s/GiB, $LOAD ${wper} s/GiB$extra | foreign load: CPU$PROXY_CPU ${foreign0}% CPU$BACKEND_CPU ${foreign1}% (CPU$BACKEND_CPU busy ${busy1}%)"
    [[ $errs -eq 0 ]] || bench_log "WARNING: $target round $round: $errs $LOAD errors"
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
    echo "| target | runs | GiB/s (median) | CPU s/GiB (median) | GiB/s ÷ direct | CPU/GiB ÷ HAProxy | proxy+nginx+$LOAD CPU s/GiB |"
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
        echo "direct has no proxy. The last column adds nginx's and $LOAD's CPU per GiB: on loopback the"
        echo "TCP work of a transfer is split between sender and receiver by timing, so a proxy can look"
        echo "cheaper by leaving more of it to the processes on CPU$BACKEND_CPU."
        if [[ $LOAD == loadgen ]]; then
            echo "Client: loadgen -t 1 --cpus $BACKEND_CPU -c 4 (closed loop); GiB/s = complete 16 MiB responses received in the"
            echo "measured window × 16 MiB ÷ the window (a download still in flight at the end is not counted)."
        else
            echo "Client: wrk -t1 -c4; GiB/s = wrk's byte count ÷ its duration."
        fi
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
        echo "| round | target | GiB/s | proxy CPU s | CPU s/GiB | nginx CPU s/GiB | $LOAD CPU s/GiB | requests | errors | proxy threads (max) | thread names | iou-wrk (max) | CPU$PROXY_CPU foreign % | CPU$BACKEND_CPU foreign % | CPU$BACKEND_CPU busy % |"
        echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|"
        awk -F, 'NR > 1 {
            printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $2, $3, $8,
                ($9 == "" ? "—" : $9), ($10 == "" ? "—" : $10), $11, $19, $6, $7,
                ($12 == "" ? "—" : $12), ($13 == "" ? "—" : $13), ($14 == "" ? "—" : $14), $15, $17, $16 }' "$CSV"
        echo
        echo "Foreign %: share of a CPU busy with anything but this benchmark's processes (the proxy on"
        echo "CPU$PROXY_CPU; nginx and $LOAD on CPU$BACKEND_CPU), i.e. other processes, interrupts and kernel threads."
        echo "A run is quiet when the foreign share of the CPUs it uses is at most ${QUIET_PCT}%."
    } >"$md"
}

mode_l4() {
    need nginx haproxy taskset ss curl awk pgrep timeout
    has_target nginx && need_nginx_stream
    check_cpus
    CLK_TCK=$(getconf CLK_TCK)
    BENCH_TMP=$(mktemp -d /tmp/spillway-bench.XXXXXX)
    need_load

    # build first: a failed build should not leave servers running for nothing
    has_target spillway && copy_spillway

    mkdir -p "$BENCH_TMP/nginx/www"
    head -c "$FILE_SIZE" /dev/urandom >"$BENCH_TMP/nginx/www/16m.bin"
    write_wrk_lua

    start_nginx
    check_download direct "$NGINX_PORT" "$FILE_SIZE"
    if has_target haproxy; then
        start_haproxy
        check_download haproxy "$HAPROXY_PORT" "$FILE_SIZE"
    fi
    if has_target nginx; then
        start_nginx_stream
        check_download nginx "$NGINXP_PORT" "$FILE_SIZE"
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
    echo "mode,round,target,bytes,duration_s,requests,errors,gib_per_s,proxy_cpu_s,proxy_cpu_s_per_gib,nginx_cpu_s_per_gib,proxy_threads_max,proxy_thread_names,iou_wrk_max,cpu0_foreign_pct,cpu1_busy_pct,cpu1_foreign_pct,noise_pct,wrk_cpu_s_per_gib,p50_us,p99_us,proxy_driver" >"$CSV"

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
        echo "command: bench/compare.sh l4 --runs $RUNS --seconds $SECONDS_PER_RUN --warmup $WARMUP --settle $SETTLE --load $LOAD --haproxy-splice $HAPROXY_SPLICE --targets $TARGETS"
        echo "kernel: $(uname -r); CPUs: $(nproc --all); nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'); $(client_version)"
        has_target haproxy && echo "haproxy: $HAPROXY_VERSION (splice: $HAPROXY_SPLICE, maxconn $HAPROXY_MAXCONN)"
        has_target nginx && echo "nginx proxy: stream module ($NGINX_STREAM_MODULE), worker_processes 1, proxy_pass to the backend, defaults otherwise (proxy_buffer_size 16k); copies through user space, no splice"
        spillway_versions
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

# ---------------------------------------------------------------- modes l7 and churn

# wrk's totals and latency percentiles (µs) in one parseable line.
write_wrk_lua_http() {
    cat >"$BENCH_TMP/report-http.lua" <<'EOF'
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "BENCH bytes=%d duration_us=%d requests=%d err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
        summary.bytes, summary.duration, summary.requests,
        e.connect, e.read, e.write, e.status, e.timeout,
        latency:percentile(50.0), latency:percentile(90.0), latency:percentile(99.0), latency.max))
end
EOF
}

# The small GET of modes l7 and churn (100 bytes, like an API answer).
HTTP_PATH=/small.txt
HTTP_BODY_SIZE=100

# The scheme of modes l7 and churn; mode tls sets https (and WRK_OPENSSL_CONF, the OpenSSL
# configuration that fixes the cipher wrk offers).
HTTP_SCHEME=http
WRK_OPENSSL_CONF=""

# run_client LIMIT OUTFILE CMD...: CMD on the backend CPU (the client's), killed after LIMIT
# seconds (timeout), stdout and stderr to OUTFILE. A small bash wrapper waits for it and
# prints its children's CPU time (`times`), which run_client leaves in CLIENT_TICKS (clock
# ticks); on SIGTERM the wrapper stops timeout, which stops CMD. Sets CLIENT_RC.
run_client() {
    local lim=$1 out=$2 pid
    shift 2
    CLIENT_RC=0
    # shellcheck disable=SC2016
    bash -c 'trap "kill -TERM \$c 2>/dev/null; wait \$c; exit 143" TERM INT
        lim=$1 cpu=$2 out=$3; shift 3
        timeout -k 5 "$lim" taskset -c "$cpu" "$@" &
        c=$!
        wait $c && rc=0 || rc=$?
        times >"$out"
        exit $rc' run_client "$lim" "$BACKEND_CPU" "$out.times" "$@" >"$out" 2>&1 &
    pid=$!
    bench_track "$pid"
    wait "$pid" || CLIENT_RC=$?
    bench_stop_pid "$pid"
    # second line of `times`: children's user and system time, e.g. "0m1.234s 0m0.567s"
    CLIENT_TICKS=$(awk -v tk="$CLK_TCK" 'NR == 2 {
        split($1, u, /[ms]/); split($2, y, /[ms]/)
        printf "%d\n", ((u[1] * 60 + u[2]) + (y[1] * 60 + y[2])) * tk + 0.5 }' "$out.times" 2>/dev/null)
    [[ -n $CLIENT_TICKS ]] || CLIENT_TICKS=0
}

# loadgen_bench_line JSON SIZE: loadgen's JSON summary as the BENCH line of wrk's report
# scripts, so that both clients are read alike (wrk_field). requests = responses received in
# the measured window (requests_in_window; rps = that ÷ duration_s), bytes = requests × SIZE
# (the body size of every response), err_status = responses with a status ≥ 400, err_read also
# counts loadgen's protocol errors (unparseable responses), conns = connections_opened.
loadgen_bench_line() {
    python3 - "$1" "$2" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
size = int(sys.argv[2])
req = int(j.get("requests_in_window", j["requests"]))
err = j.get("errors") or {}
lat = j.get("latency_us") or {}
bad = sum(int(v) for k, v in (j.get("status") or {}).items() if not k.isdigit() or int(k) >= 400)
print("BENCH bytes=%d duration_us=%d requests=%d err_connect=%d err_read=%d err_write=%d err_status=%d "
      "err_timeout=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d conns=%d" % (
          req * size, round(float(j["duration_s"]) * 1e6), req, err.get("connect", 0),
          err.get("read", 0) + err.get("protocol", 0), err.get("write", 0), bad, err.get("timeout", 0),
          lat.get("p50", 0), lat.get("p90", 0), lat.get("p99", 0), lat.get("max", 0),
          j.get("connections_opened", 0)))
EOF
}

# run_loadgen_http PORT SECONDS OUTFILE URL CONNS SIZE [LOADGEN ARGS...]: the bundled load
# generator, closed loop, one thread pinned to the backend CPU (run_client), CONNS connections;
# its JSON summary goes to OUTFILE.json and, as a BENCH line (loadgen_bench_line), to OUTFILE.
# https:// URLs are driven with --insecure (the bench certificate is self-signed).
run_loadgen_http() {
    local port=$1 secs=$2 out=$3 url=$4 conns=$5 size=$6
    shift 6
    local lg_args=("$@")
    [[ $url == https://* ]] && lg_args+=(--insecure)
    rm -f "$out.json"
    run_client $((secs + 30)) "$out" "$LOADGEN" "$url" -t 1 --cpus "$BACKEND_CPU" -c "$conns" \
        -d "${secs}s" --json "$out.json" -q "${lg_args[@]}"
    [[ $CLIENT_RC -eq 0 ]] || bench_die "loadgen failed on port $port (exit $CLIENT_RC$([[ $CLIENT_RC -eq 124 ]] && echo ': timed out')): $(tail -n 20 "$out")"
    [[ -s $out.json ]] || bench_die "loadgen wrote no JSON summary: $(tail -n 20 "$out")"
    loadgen_bench_line "$out.json" "$size" >>"$out" || bench_die "cannot read loadgen's JSON summary $out.json"
}

# run_wrk_http PORT SECONDS OUTFILE: the client (wrk -t1 -c64 --latency, or with --load
# loadgen the bundled loadgen -t 1 -c64) on the backend CPU, bounded in time; in mode churn
# every request carries `Connection: close` (loadgen then opens a new connection for every
# request, as wrk does); in mode tls it speaks https (wrk with the cipher of $WRK_OPENSSL_CONF).
run_wrk_http() {
    local port=$1 secs=$2 out=$3 rc hdr=() envs=()
    [[ $MODE == churn ]] && hdr=(-H "Connection: close")
    if [[ $LOAD == loadgen ]]; then
        run_loadgen_http "$port" "$secs" "$out" "$HTTP_SCHEME://127.0.0.1:$port$HTTP_PATH" "$HTTP_CONNS" \
            "$HTTP_BODY_SIZE" "${hdr[@]}"
        WRK_TICKS=$CLIENT_TICKS
        return
    fi
    [[ -n $WRK_OPENSSL_CONF ]] && envs=("OPENSSL_CONF=$WRK_OPENSSL_CONF")
    run_client $((secs + 30)) "$out" env "${envs[@]}" wrk \
        -t1 -c"$HTTP_CONNS" -d"${secs}s" --latency -s "$BENCH_TMP/report-http.lua" "${hdr[@]}" \
        "$HTTP_SCHEME://127.0.0.1:$port$HTTP_PATH"
    rc=$CLIENT_RC
    [[ $rc -eq 0 ]] || bench_die "wrk failed (exit $rc$([[ $rc -eq 124 ]] && echo ': timed out')): $(cat "$out")"
    grep -q '^BENCH ' "$out" || bench_die "no BENCH line in wrk output: $(cat "$out")"
    WRK_TICKS=$CLIENT_TICKS
}

# nginx_counts: "accepted_connections handled_requests" from stub_status. The
# status request itself adds one connection and one request.
nginx_counts() {
    curl -s --max-time 5 "http://127.0.0.1:$NGINX_STATUS_PORT/status" |
        awk 'NR == 3 {print $1, $3}'
}

# One GET through PORT must return 200 and exactly HTTP_BODY_SIZE bytes (over TLS
# with the self-signed bench certificate when PORT is the tls mode's).
check_small_get() {
    local name=$1 port=$2 out scheme=http
    [[ $name != direct ]] && scheme=$HTTP_SCHEME
    out=$(curl -sk --max-time 10 -o /dev/null -w '%{http_code} %{size_download}' \
        "$scheme://127.0.0.1:$port$HTTP_PATH") || true
    [[ $out == "200 $HTTP_BODY_SIZE" ]] || bench_die "$name: GET $HTTP_PATH via port $port gave '$out', wanted '200 $HTTP_BODY_SIZE'"
}

# spillway must still be alive: else stop with its log and how to reproduce.
check_proxy_alive() {
    local target=$1 ppid=$2 when=$3
    kill -0 "$ppid" 2>/dev/null && return 0
    local st=0
    wait "$ppid" 2>/dev/null || st=$?
    if [[ $target == spillway* ]]; then
        bench_die "$target (pid $ppid) died $when (status $st); config ${SPW_CONF[$target]}; log ${SPW_LOG[$target]}: $(tail -n 30 "${SPW_LOG[$target]}")"
    fi
    bench_die "$target (pid $ppid) died $when (status $st)"
}

# http_measure TARGET ROUND: one measured run of mode l7/churn (or tls keep-alive), one CSV row.
http_measure() {
    local target=$1 round=$2 port ppid out samples stop spid
    port=$(l4_port "$target")
    ppid=$(l4_proxy_pid "$target")
    out=$BENCH_TMP/wrk-$MODE-$target-$round.out
    samples=$BENCH_TMP/threads-$target-$round.txt
    stop=$BENCH_TMP/stop-$target-$round
    local p0=0 p1=0 pu0=0 ps0=0 pu1=0 ps1=0 n0 n1 a0 q0 a1 q1 cpid
    : >"$samples.rustc"
    bench_compiler_sampler "$samples.rustc" "$stop" $((SECONDS_PER_RUN + 40)) &
    cpid=$!
    bench_track "$cpid"
    if [[ -n $ppid ]]; then
        check_proxy_alive "$target" "$ppid" "before round $round"
        : >"$samples"
        bench_thread_sampler "$ppid" "$samples" "$stop" $((SECONDS_PER_RUN + 40)) &
        spid=$!
        bench_track "$spid"
        p0=$(proxy_ticks "$target")
        read -r pu0 ps0 < <(proxy_ticks_split "$target")
    fi
    read -r a0 q0 < <(nginx_counts)
    n0=$(bench_cpu_ticks_sum "${NGINX_PIDS[@]}")
    local c0b0 c0t0 c1b0 c1t0 c0b1 c0t1 c1b1 c1t1
    read -r c0b0 c0t0 < <(bench_cpu_busy "$PROXY_CPU")
    read -r c1b0 c1t0 < <(bench_cpu_busy "$BACKEND_CPU")

    run_wrk_http "$port" "$SECONDS_PER_RUN" "$out"

    read -r c0b1 c0t1 < <(bench_cpu_busy "$PROXY_CPU")
    read -r c1b1 c1t1 < <(bench_cpu_busy "$BACKEND_CPU")
    n1=$(bench_cpu_ticks_sum "${NGINX_PIDS[@]}")
    local threads="" names="" iou="" estab rustc
    if [[ -n $ppid ]]; then
        p1=$(proxy_ticks "$target")
        read -r pu1 ps1 < <(proxy_ticks_split "$target")
    fi
    touch "$stop"
    wait "$cpid" 2>/dev/null || true
    bench_stop_pid "$cpid"
    rustc=$(bench_compilers_max "$samples.rustc")
    if [[ -n $ppid ]]; then
        wait "$spid" 2>/dev/null || true
        bench_stop_pid "$spid"
        read -r threads names iou < <(bench_thread_summary "$samples")
        check_proxy_alive "$target" "$ppid" "during round $round"
    fi
    # backend connections still open after the run (the proxy's pool; wrk's for direct)
    estab=$(ss -Htn state established "( dport = :$NGINX_PORT )" 2>/dev/null | wc -l)
    read -r a1 q1 < <(nginx_counts)
    # minus the status request of the second reading
    local newc=$((a1 - a0 - 1)) breq=$((q1 - q0 - 1))

    local dur reqs errs estatus p50 p99 pmax
    dur=$(wrk_field "$out" duration_us)
    reqs=$(wrk_field "$out" requests)
    estatus=$(wrk_field "$out" err_status)
    errs=$(($(wrk_field "$out" err_connect) + $(wrk_field "$out" err_read) + $(wrk_field "$out" err_write) + estatus + $(wrk_field "$out" err_timeout)))
    p50=$(wrk_field "$out" p50_us)
    p99=$(wrk_field "$out" p99_us)
    pmax=$(wrk_field "$out" max_us)

    local row
    row=$(awk -v tk="$CLK_TCK" -v r="$reqs" -v d="$dur" -v p="$((p1 - p0))" -v n="$((n1 - n0))" \
        -v w="$WRK_TICKS" -v hasp="${ppid:+1}" -v nc="$newc" 'BEGIN {
            s = d / 1e6
            rps = (s > 0) ? r / s : 0
            pcpu = hasp ? sprintf("%.2f", p / tk) : ""
            pper = (hasp && r > 0) ? sprintf("%.3f", p / tk / r * 1e6) : ""
            nper = (r > 0) ? sprintf("%.3f", n / tk / r * 1e6) : ""
            wper = (r > 0) ? sprintf("%.3f", w / tk / r * 1e6) : ""
            reuse = (hasp && r > 0) ? sprintf("%.4f", 100 * (1 - nc / r)) : ""
            printf "%.6f,%.1f,%s,%s,%s,%s,%s\n", s, rps, pcpu, pper, nper, wper, reuse }')
    local dur_s rps pcpu pper nper wper reuse
    IFS=, read -r dur_s rps pcpu pper nper wper reuse <<<"$row"
    local foreign0 busy1 foreign1 noise
    foreign0=$(awk -v b="$((c0b1 - c0b0))" -v t="$((c0t1 - c0t0))" -v p="$((p1 - p0))" \
        'BEGIN {f = (t > 0) ? 100 * (b - p) / t : 0; if (f < 0) f = 0; printf "%.0f", f}')
    busy1=$(awk -v b="$((c1b1 - c1b0))" -v t="$((c1t1 - c1t0))" 'BEGIN {printf "%.0f", (t > 0) ? 100 * b / t : 0}')
    foreign1=$(awk -v b="$((c1b1 - c1b0))" -v t="$((c1t1 - c1t0))" -v o="$((n1 - n0 + WRK_TICKS))" \
        'BEGIN {f = (t > 0) ? 100 * (b - o) / t : 0; if (f < 0) f = 0; printf "%.0f", f}')
    if [[ -n $ppid ]]; then noise=$((foreign0 > foreign1 ? foreign0 : foreign1)); else noise=$foreign1; fi
    # columns: see the header in mode_http
    # the proxy's open fds and RSS after the run: a leak shows as growth from round to round
    local pfds="" prss=""
    if [[ -n $ppid ]]; then
        pfds=$(find "/proc/$ppid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
        prss=$(awk '/^VmRSS:/ {print $2}' "/proc/$ppid/status" 2>/dev/null)
    fi
    # the proxy's CPU per request split into user space and kernel
    local puser="" psys=""
    if [[ -n $ppid && $reqs -gt 0 ]]; then
        read -r puser psys < <(awk -v tk="$CLK_TCK" -v r="$reqs" -v u="$((pu1 - pu0))" -v k="$((ps1 - ps0))" \
            'BEGIN {printf "%.3f %.3f\n", u / tk / r * 1e6, k / tk / r * 1e6}')
    fi
    echo "$MODE,$round,$target,$reqs,$dur_s,$rps,$errs,$estatus,$p50,$p99,$pmax,$pcpu,$pper,$nper,$wper,$newc,$breq,$reuse,$estab,$threads,$names,$iou,$foreign0,$busy1,$foreign1,$noise,$pfds,$prss,$rustc,$puser,$psys,$(target_driver "$target")" >>"$CSV"

    local extra=""
    [[ -n $ppid ]] && extra=" | proxy CPU ${pcpu}s = ${pper} µs/req (user $puser + kernel $psys) | backend: $newc new conns, $breq req, reuse ${reuse}% | threads $threads ($names) | after: $pfds fds, RSS $prss KiB"
    bench_log "round $round $(printf '%-8s' "$target") $rps req/s p50 ${p50}µs p99 ${p99}µs | $reqs req, $errs errors ($estatus non-2xx/3xx) | nginx ${nper} µs/req, $LOAD ${wper} µs/req$extra | foreign: CPU$PROXY_CPU ${foreign0}% CPU$BACKEND_CPU ${foreign1}%"
    if [[ $errs -ne 0 ]]; then
        bench_log "WARNING: $target round $round: $errs $LOAD errors: $(grep -E 'Socket errors|Non-2xx|^BENCH' "$out" | tr '\n' ' ')"
    fi
    if [[ $LOAD == loadgen && $MODE == churn ]]; then
        # Connection: close must mean a new client connection for every request
        local conns
        conns=$(wrk_field "$out" conns)
        [[ ${conns:-0} -ge $reqs ]] || bench_log "WARNING: $target round $round: loadgen opened $conns connections for $reqs requests"
    fi
    if [[ -n $iou && $iou -gt 0 ]]; then
        bench_log "WARNING: $target round $round: up to $iou io_uring worker threads (iou-wrk) seen"
    fi
    [[ $rustc -eq 0 ]] || bench_log "WARNING: $target round $round: up to $rustc rustc processes ran during the run (noise)"
    if [[ -n $ppid && $breq -ne $reqs ]]; then
        # the client counts only completed requests; a run ends with up to -c requests in flight
        local diff=$((breq - reqs))
        [[ ${diff#-} -le $((HTTP_CONNS * 2)) ]] ||
            bench_log "WARNING: $target round $round: nginx served $breq requests, $LOAD completed $reqs"
    fi
}

# CSV columns (1-based) used below: 3 target, 6 rps, 7 errors, 9 p50_us, 10 p99_us,
# 13 proxy_us_per_req, 14 nginx_us_per_req, 15 wrk_us_per_req, 18 reuse_pct, 26 noise
declare -A HR HP5 HP9 HC HN HU HT
http_table() {
    local maxf=$1 t
    for t in "${TARGET_LIST[@]}"; do
        HR[$t]=$(awk -F, -v t="$t" -v m="$maxf" 'NR > 1 && $3 == t && $26 <= m {print $6}' "$CSV" | bench_median)
        HP5[$t]=$(awk -F, -v t="$t" -v m="$maxf" 'NR > 1 && $3 == t && $26 <= m {print $9}' "$CSV" | bench_median)
        HP9[$t]=$(awk -F, -v t="$t" -v m="$maxf" 'NR > 1 && $3 == t && $26 <= m {print $10}' "$CSV" | bench_median)
        HC[$t]=$(awk -F, -v t="$t" -v m="$maxf" 'NR > 1 && $3 == t && $26 <= m && $13 != "" {print $13}' "$CSV" | bench_median)
        HU[$t]=$(awk -F, -v t="$t" -v m="$maxf" 'NR > 1 && $3 == t && $26 <= m && $18 != "" {print $18}' "$CSV" | bench_median)
        HT[$t]=$(awk -F, -v t="$t" -v m="$maxf" 'NR > 1 && $3 == t && $26 <= m {print $13 + $14 + $15}' "$CSV" | bench_median)
        HN[$t]=$(awk -F, -v t="$t" -v m="$maxf" 'NR > 1 && $3 == t && $26 <= m' "$CSV" | wc -l)
    done
    local hr="" hc="" h9=""
    if has_target haproxy; then hr=${HR[haproxy]}; hc=${HC[haproxy]}; h9=${HP9[haproxy]}; fi
    echo "| target | runs | req/s (median) | p50 ms | p99 ms | proxy CPU µs/req | req/s ÷ HAProxy | CPU/req ÷ HAProxy | p99 ÷ HAProxy | backend reuse % | proxy+nginx+$LOAD µs/req |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for t in "${TARGET_LIST[@]}"; do
        awk -v t="$t" -v n="${HN[$t]}" -v r="${HR[$t]}" -v p5="${HP5[$t]}" -v p9="${HP9[$t]}" -v c="${HC[$t]}" \
            -v u="${HU[$t]}" -v a="${HT[$t]}" -v hr="$hr" -v hc="$hc" -v h9="$h9" 'function f(x, fmt) { return (x == "nan" || x == "") ? "—" : sprintf(fmt, x) }
            function q(x, y) { return (x == "nan" || x == "" || y == "" || y == "nan" || y + 0 <= 0) ? "—" : sprintf("%.3f", x / y) }
            BEGIN {
            printf "| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", t, n, f(r, "%.0f"),
                f(p5 / 1000, "%.3f"), f(p9 / 1000, "%.3f"), f(c, "%.2f"), q(r, hr),
                (c == "nan" ? "—" : q(c, hc)), q(p9, h9), (t == "direct" ? "—" : f(u, "%.3f")), f(a, "%.2f") }'
    done
}

# http_goals: the issues' goals for spillway against HAProxy, from the medians of http_table.
http_goals() {
    awk -v mode="$MODE" -v sc="${HC[spillway]}" -v hc="${HC[haproxy]}" -v sr="${HR[spillway]}" -v hr="${HR[haproxy]}" \
        -v s9="${HP9[spillway]}" -v h9="${HP9[haproxy]}" -v su="${HU[spillway]}" 'function ok(b) { return b ? "**met**" : "**missed**" }
        BEGIN {
        if (sc == "nan" || hc == "nan" || hc <= 0) { print "- goals: n/a (needs haproxy and spillway)"; exit }
        print "| goal | result | |"
        print "|---|---|---|"
        if (mode == "l7") {
            printf "| spillway CPU/request ≤ 0.60 × HAProxy'"'"'s | %.3f | %s |\n", sc / hc, ok(sc / hc <= 0.60)
            printf "| spillway req/s ≥ 1.3 × HAProxy'"'"'s | %.3f | %s |\n", sr / hr, ok(sr / hr >= 1.3)
            printf "| spillway p99 no worse than HAProxy'"'"'s | %.3f ms vs %.3f ms (%.3f×) | %s |\n", s9 / 1000, h9 / 1000, s9 / h9, ok(s9 <= h9)
            printf "| backend connection reuse ≥ 99.9 %% | %.3f %% | %s |\n", su, ok(su >= 99.9)
        } else if (mode == "tls") {
            printf "| spillway keep-alive CPU/request over TLS ≤ 0.70 × HAProxy'"'"'s | %.3f | %s |\n", sc / hc, ok(sc / hc <= 0.70)
            printf "| (no goal) req/s ÷ HAProxy | %.3f | |\n", sr / hr
            printf "| (no goal) p99 ÷ HAProxy | %.3f | |\n", s9 / h9
        } else {
            printf "| spillway CPU/request ≤ 0.80 × HAProxy'"'"'s | %.3f | %s |\n", sc / hc, ok(sc / hc <= 0.80)
            printf "| (no goal) req/s ÷ HAProxy | %.3f | |\n", sr / hr
            printf "| (no goal) p99 ÷ HAProxy | %.3f | |\n", s9 / h9
        }
    }'
}

# paired_ratio CSV COL A B: the median over the rounds of (column COL of target A ÷ that of
# target B in the same round); "nan" when no round has both.
paired_ratio() {
    awk -F, -v col="$2" -v a="$3" -v b="$4" 'NR > 1 {v[$2 "," $3] = $col; r[$2] = 1}
        END {for (k in r) if ((k "," a) in v && v[k "," b] > 0) print v[k "," a] / v[k "," b]}' "$1" | bench_median
}

# http_summary MD: the markdown of modes l7 and churn (and of tls keep-alive) from $CSV.
http_summary() {
    local md=$1 other
    {
        echo "All runs:"
        echo
        http_table 100
        echo
        if has_target spillway && has_target haproxy; then
            http_goals
            echo
        fi
        for other in haproxy nginx; do
            if has_target spillway && has_target "$other"; then
                printf -- '- medians of the per-round (paired) ratios spillway ÷ %s: CPU/request %.3f, req/s %.3f\n' "$other" \
                    "$(paired_ratio "$CSV" 13 spillway "$other")" "$(paired_ratio "$CSV" 6 spillway "$other")"
            fi
        done
        echo
        echo "Quiet runs only (foreign load ≤ ${QUIET_PCT}% on the CPUs the run uses):"
        echo
        http_table "$QUIET_PCT"
        echo
        echo "Raw runs:"
        echo
        echo "| round | target | req/s | p50 ms | p99 ms | max ms | errors (non-2xx) | proxy CPU s | proxy µs/req | backend nginx µs/req | $LOAD µs/req | new backend conns | backend req | reuse % | backend conns open after (all) | proxy threads | iou-wrk | CPU$PROXY_CPU foreign % | CPU$BACKEND_CPU foreign % | proxy fds after | proxy RSS KiB after | rustc seen | spillway driver |"
        echo "|---:|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|"
        awk -F, -v load="$LOAD" 'function d(x) { return x == "" ? "—" : x } NR > 1 {
            printf "| %s | %s | %s | %.3f | %.3f | %.1f | %s (%s) | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
                $2, $3, $6, $9 / 1000, $10 / 1000, $11 / 1000, $7, $8, d($12), d($13), $14, $15,
                ($3 == "direct" ? "(" load ") " $16 : $16), $17, d($18), $19,
                ($20 == "" ? "—" : $20 " (" $21 ")"), d($22), $23, $25, d($27), d($28), d($29), d($32) }' "$CSV"
        echo
        echo "CPU µs/req: the process's utime+stime (all threads, /proc/PID/stat; for the nginx proxy master + worker)"
        echo "over the run ÷ requests $LOAD completed. \"nginx\" is nginx as a reverse proxy (a second instance on CPU$PROXY_CPU);"
        echo "\"backend nginx\" is the one serving the file (CPU$BACKEND_CPU)."
        echo "New backend conns: the backend nginx's stub_status \"accepts\" after − before (minus the status request);"
        echo "reuse = 1 − new backend connections ÷ requests. For direct these are $LOAD's own connections."
        if [[ $LOAD == loadgen ]]; then
            echo "Client: loadgen -t 1 --cpus $BACKEND_CPU -c $HTTP_CONNS, closed loop; requests = responses received in the measured"
            echo "window; latency from loadgen's HdrHistogram (closed loop: the service time)."
        fi
        echo "rustc seen: the most rustc processes running at once during the run (sampled every 0.5 s; should be 0)."
        echo "$RUNS rounds × ${SECONDS_PER_RUN} s, targets alternated within each round."
    } >"$md"
}

# http_prepare: what modes l7, churn and tls share before the proxies start: the temp
# dir, a private copy of spillway, the 100-byte file, wrk's report script, the backend nginx.
http_prepare() {
    need nginx haproxy taskset ss curl awk pgrep timeout
    check_cpus
    CLK_TCK=$(getconf CLK_TCK)
    BENCH_TMP=$(mktemp -d /tmp/spillway-bench.XXXXXX)
    HTTP_CONNS=64
    need_load
    has_spillway && copy_spillway
    mkdir -p "$BENCH_TMP/nginx/www"
    head -c "$HTTP_BODY_SIZE" /dev/urandom | base64 -w0 | head -c "$HTTP_BODY_SIZE" >"$BENCH_TMP/nginx/www/small.txt"
    write_wrk_lua_http

    start_nginx
    check_small_get direct "$NGINX_PORT"
    [[ -n $(nginx_counts) ]] || bench_die "nginx stub_status on $NGINX_STATUS_PORT does not answer"
}

# copy_spillway: build (or take SPILLWAY_BIN) and run a private copy, so a rebuild by
# someone else mid-run does not change what is measured.
copy_spillway() {
    SPILLWAY_BIN=$(spillway_bin)
    mkdir -p "$BENCH_TMP/spillway"
    cp "$SPILLWAY_BIN" "$BENCH_TMP/spillway/spillway"
    SPILLWAY_SHA=$(sha256sum "$BENCH_TMP/spillway/spillway" | cut -c1-12)
    SPILLWAY_BUILT=$(date -u -r "$SPILLWAY_BIN" '+%Y-%m-%d %H:%M UTC')
}

# http_start_proxies: every proxy in --targets, each checked with one GET through it;
# in mode tls they terminate TLS.
http_start_proxies() {
    local tls=0 proto=http
    [[ $MODE == tls ]] && tls=1 proto=https
    if has_target haproxy; then
        HAPROXY_MODE=http HAPROXY_TLS=$tls start_haproxy
        check_small_get haproxy "$HAPROXY_PORT"
    fi
    if has_target nginx; then
        NGINX_PROXY_TLS=$tls start_nginx_proxy
        check_small_get nginx "$NGINXP_PORT"
    fi
    local t
    for t in "${TARGET_LIST[@]}"; do
        [[ $t == spillway* ]] || continue
        SPILLWAY_PROTOCOL=$proto start_spillway "$t"
        check_small_get "$t" "${SPW_PORT[$t]}"
    done
}

# http_results STAMP: the results dir and the CSV of the keep-alive/churn runs ($CSV) with its header.
http_results() {
    RESULTS=${RESULTS_DIR:-$ROOT/target/bench-results}
    mkdir -p "$RESULTS"
    CSV=$RESULTS/$MODE-$1.csv
    echo "mode,round,target,requests,duration_s,rps,errors,non2xx,p50_us,p99_us,max_us,proxy_cpu_s,proxy_us_per_req,nginx_us_per_req,wrk_us_per_req,backend_new_conns,backend_requests,reuse_pct,backend_estab_after,proxy_threads_max,proxy_thread_names,iou_wrk_max,cpu0_foreign_pct,cpu1_busy_pct,cpu1_foreign_pct,noise_pct,proxy_fds_after,proxy_rss_kib_after,rustc_max,proxy_user_us_per_req,proxy_sys_us_per_req,proxy_driver" >"$CSV"
}

# http_versions: the versions and settings lines of a summary's head.
http_versions() {
    echo "kernel: $(uname -r); CPUs: $(nproc --all); nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'); client: $(client_version)"
    has_target haproxy && echo "haproxy: $HAPROXY_VERSION (mode http, http-reuse always, maxconn $HAPROXY_MAXCONN$([[ $MODE == tls ]] && echo ", $(haproxy -vv 2>/dev/null | grep -m1 'Running on OpenSSL' | sed 's/.*: //')"))"
    has_target nginx && echo "nginx proxy: worker_processes 1, upstream keepalive 64 (keepalive_requests 1000000), proxy_http_version 1.1, Connection \"\"$([[ $MODE == tls ]] && echo ", ssl_protocols TLSv1.2 TLSv1.3")"
    spillway_versions
    return 0
}

# http_keep_spillway_log STAMP: spillway's own log (anything it said during the runs) next to the results.
http_keep_spillway_log() {
    local t log
    for t in "${TARGET_LIST[@]}"; do
        log=${SPW_LOG[$t]:-}
        [[ $t == spillway* && -s $log ]] || continue
        cp "$log" "$RESULTS/$MODE-$1.$t.log"
        bench_log "$t logged $(wc -l <"$log") lines: $RESULTS/$MODE-$1.$t.log"
    done
}

# Modes l7 and churn: wrk's small GETs through each target, alternated within each round.
mode_http() {
    http_prepare
    http_start_proxies

    local stamp t r
    stamp=$(date +%Y%m%d-%H%M%S)
    http_results "$stamp"
    LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
    if [[ $WARMUP -gt 0 ]]; then
        bench_log "warm-up: ${WARMUP}s per target"
        for t in "${TARGET_LIST[@]}"; do
            run_wrk_http "$(l4_port "$t")" "$WARMUP" "$BENCH_TMP/wrk-warmup-$t.out"
        done
    fi
    bench_log "measuring: $RUNS rounds × ${SECONDS_PER_RUN}s × (${TARGET_LIST[*]})"
    for ((r = 1; r <= RUNS; r++)); do
        for t in "${TARGET_LIST[@]}"; do
            wait_quiet "$SETTLE"
            http_measure "$t" "$r"
        done
    done

    local md=$RESULTS/$MODE-$stamp.md what="keep-alive"
    [[ $MODE == churn ]] && what="Connection: close on every request"
    {
        echo "# spillway bench: $MODE ($LOAD -t1 -c$HTTP_CONNS, GET of $HTTP_BODY_SIZE bytes, $what), $(date -u '+%Y-%m-%d %H:%M UTC')"
        echo
        echo "command: bench/compare.sh $MODE --runs $RUNS --seconds $SECONDS_PER_RUN --warmup $WARMUP --settle $SETTLE --load $LOAD --targets $TARGETS"
        http_versions
        echo "load average before/after: $LOAD_BEFORE / $(cut -d' ' -f1-3 /proc/loadavg)"
        echo
    } >"$md.head"
    http_summary "$md.body"
    cat "$md.head" "$md.body" >"$md"
    rm -f "$md.head" "$md.body"
    http_keep_spillway_log "$stamp"
    echo
    cat "$md"
    echo
    bench_log "raw CSV: $CSV"
    bench_log "summary: $md"
}

mode_l7() { mode_http; }
mode_churn() { mode_http; }

# ---------------------------------------------------------------- mode tls

# The cipher suites and key-exchange groups of loadgen's rustls client (ring provider), in
# its order: what the handshake runs offer (checked with openssl s_client, which offers the same).
RUSTLS_SUITES=TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256
RUSTLS_GROUPS=X25519:P-256:P-384
# concurrent connections of the handshake runs
TLS_HS_CONNS=${TLS_HS_CONNS:-32}
# what each round of mode tls measures: keepalive, handshakes, or both (keep-alive first)
TLS_PARTS=${TLS_PARTS:-keepalive,handshakes}

# tls_make_cert: the bench certificate, ECDSA P-256, self-signed for localhost and 127.0.0.1,
# valid 2 days, in $BENCH_TMP/tls. TLS_PEM holds certificate and key in one file (HAProxy's
# `crt` wants that; spillway and nginx take the same file as certificate and as key). Also
# writes the OpenSSL configuration that makes wrk offer TLS 1.3 TLS_AES_128_GCM_SHA256 with
# an X25519 key share only (WRK_OPENSSL_CONF), so every proxy negotiates the same.
tls_make_cert() {
    local dir=$BENCH_TMP/tls
    mkdir -p "$dir"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
        -keyout "$dir/key.pem" -out "$dir/cert.pem" >"$dir/openssl-req.log" 2>&1 ||
        bench_die "openssl req failed: $(cat "$dir/openssl-req.log")"
    cat "$dir/cert.pem" "$dir/key.pem" >"$dir/combined.pem"
    TLS_PEM=$dir/combined.pem
    cat >"$dir/wrk-openssl.cnf" <<'EOF'
# OpenSSL configuration of wrk in bench/compare.sh tls: one TLS 1.3 suite, one group.
openssl_conf = bench_init
[bench_init]
ssl_conf = bench_ssl
[bench_ssl]
system_default = bench_client
[bench_client]
MinProtocol = TLSv1.3
Ciphersuites = TLS_AES_128_GCM_SHA256
Groups = X25519
EOF
    WRK_OPENSSL_CONF=$dir/wrk-openssl.cnf
    bench_log "certificate: $(openssl x509 -in "$dir/cert.pem" -noout -subject -enddate | tr '\n' ' ')(ECDSA P-256) in $TLS_PEM"
}

# tls_negotiated PORT CONF [S_CLIENT ARGS...]: "protocol cipher group" that openssl s_client
# (with OPENSSL_CONF=CONF unless CONF is empty) negotiates with 127.0.0.1:PORT.
tls_negotiated() {
    local port=$1 conf=$2 out envs=()
    shift 2
    [[ -n $conf ]] && envs=("OPENSSL_CONF=$conf")
    out=$(env "${envs[@]}" timeout 10 openssl s_client -connect "127.0.0.1:$port" -servername localhost "$@" </dev/null 2>/dev/null) || true
    awk '/^New, / {gsub(",", ""); p = $2; c = $5}
        /^Server Temp Key:/ {k = $4; gsub(",", "", k)}
        END {printf "%s %s %s\n", (p == "" ? "?" : p), (c == "" ? "?" : c), (k == "" ? "?" : k)}' <<<"$out"
}

# tls_check_ciphers: what each proxy negotiates with wrk's offer (keep-alive runs) and with
# loadgen's (handshake runs), into TLS_KA/TLS_HS; a warning when the proxies differ.
declare -A TLS_KA TLS_HS
tls_check_ciphers() {
    local t port ka="" hs=""
    TLS_CIPHERS_SAME=1
    for t in "${TARGET_LIST[@]}"; do
        port=$(l4_port "$t")
        if [[ $LOAD == wrk ]]; then
            TLS_KA[$t]=$(tls_negotiated "$port" "$WRK_OPENSSL_CONF")
        else
            # loadgen's keep-alive runs offer what its handshake runs do
            TLS_KA[$t]=$(tls_negotiated "$port" "" -ciphersuites "$RUSTLS_SUITES" -groups "$RUSTLS_GROUPS")
        fi
        TLS_HS[$t]=$(tls_negotiated "$port" "" -ciphersuites "$RUSTLS_SUITES" -groups "$RUSTLS_GROUPS")
        bench_log "$t negotiates: keep-alive runs ($LOAD's offer) ${TLS_KA[$t]}; handshake runs (loadgen's) ${TLS_HS[$t]}"
        [[ ${TLS_KA[$t]} == *'?'* || ${TLS_HS[$t]} == *'?'* ]] && bench_die "$t: no TLS handshake with openssl s_client on port $port"
        [[ -z $ka || ($ka == "${TLS_KA[$t]}" && $hs == "${TLS_HS[$t]}") ]] || TLS_CIPHERS_SAME=0
        ka=${TLS_KA[$t]} hs=${TLS_HS[$t]}
    done
    [[ $TLS_CIPHERS_SAME == 1 ]] || bench_log "WARNING: the proxies do not all negotiate the same protocol, cipher and group"
}

# loadgen_bin: LOADGEN_BIN, or the release build of the bundled load generator.
loadgen_bin() {
    if [[ -n ${LOADGEN_BIN:-} ]]; then
        [[ -x $LOADGEN_BIN ]] || bench_die "LOADGEN_BIN=$LOADGEN_BIN is not executable"
        echo "$LOADGEN_BIN"
        return
    fi
    bench_log "building loadgen (cargo build --release -p spillway-loadgen --bin loadgen)"
    (cd "$ROOT" && cargo build --release -p spillway-loadgen --bin loadgen >&2) || bench_die "cargo build of loadgen failed"
    echo "${CARGO_TARGET_DIR:-$ROOT/target}/release/loadgen"
}

# copy_loadgen: a private copy of loadgen in the temp dir (LOADGEN), which must have the
# flags of the handshake runs.
copy_loadgen() {
    [[ -n ${LOADGEN:-} && -x $LOADGEN ]] && return 0
    LOADGEN_SRC=$(loadgen_bin)
    LOADGEN=$BENCH_TMP/loadgen
    cp "$LOADGEN_SRC" "$LOADGEN"
    "$LOADGEN" --help 2>&1 | grep -q -- '--no-resume' ||
        bench_die "$LOADGEN_SRC has no --no-resume (a full TLS handshake per connection); rebuild it"
    LOADGEN_SHA=$(sha256sum "$LOADGEN" | cut -c1-12)
}

# run_loadgen_hs PORT SECONDS OUTFILE: loadgen on the backend CPU, one thread, TLS_HS_CONNS
# connections, each request on a new connection with a full handshake (no resumption);
# its JSON summary goes to OUTFILE.json, its CPU time to CLIENT_TICKS.
run_loadgen_hs() {
    local port=$1 secs=$2 out=$3
    rm -f "$out.json"
    run_client $((secs + 30)) "$out" "$LOADGEN" "https://127.0.0.1:$port$HTTP_PATH" --insecure --new-conn --no-resume \
        -c "$TLS_HS_CONNS" -t 1 --cpus "$BACKEND_CPU" -d "${secs}s" --json "$out.json" -q
    [[ $CLIENT_RC -eq 0 ]] || bench_die "loadgen failed (exit $CLIENT_RC$([[ $CLIENT_RC -eq 124 ]] && echo ': timed out')): $(tail -n 20 "$out")"
    [[ -s $out.json ]] || bench_die "loadgen wrote no JSON summary: $(tail -n 20 "$out")"
}

# loadgen_fields JSON: "requests duration_s handshakes full resumed failed errors non2xx
# p50_us p99_us max_us" from loadgen's JSON summary.
loadgen_fields() {
    python3 - "$1" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
t = j.get("tls") or {}
lat = j.get("latency_us") or {}
ok = sum(v for k, v in (j.get("status") or {}).items() if k.startswith("2"))
print(j["requests"], j["duration_s"], t.get("handshakes", 0), t.get("full", 0), t.get("resumed", 0),
      t.get("failed", 0), sum((j.get("errors") or {}).values()), j["requests"] - ok,
      lat.get("p50", 0), lat.get("p99", 0), lat.get("max", 0))
EOF
}

# tls_hs_measure TARGET ROUND: one handshake run (loadgen --new-conn --no-resume), one row of $HS_CSV.
tls_hs_measure() {
    local target=$1 round=$2 port ppid out samples stop spid cpid
    port=$(l4_port "$target")
    ppid=$(l4_proxy_pid "$target")
    out=$BENCH_TMP/loadgen-$target-$round.out
    samples=$BENCH_TMP/threads-hs-$target-$round.txt
    stop=$BENCH_TMP/stop-hs-$target-$round
    check_proxy_alive "$target" "$ppid" "before handshake round $round"
    : >"$samples"
    : >"$samples.rustc"
    bench_thread_sampler "$ppid" "$samples" "$stop" $((SECONDS_PER_RUN + 40)) &
    spid=$!
    bench_track "$spid"
    bench_compiler_sampler "$samples.rustc" "$stop" $((SECONDS_PER_RUN + 40)) &
    cpid=$!
    bench_track "$cpid"
    local s0="-" s1="-" sreuse="-" p0 p1 n0 n1 a0 q0 a1 q1
    [[ $target == haproxy ]] && s0=$(haproxy_info CumSslConns)
    read -r a0 q0 < <(nginx_counts)
    n0=$(bench_cpu_ticks_sum "${NGINX_PIDS[@]}")
    p0=$(proxy_ticks "$target")
    local c0b0 c0t0 c1b0 c1t0 c0b1 c0t1 c1b1 c1t1
    read -r c0b0 c0t0 < <(bench_cpu_busy "$PROXY_CPU")
    read -r c1b0 c1t0 < <(bench_cpu_busy "$BACKEND_CPU")

    run_loadgen_hs "$port" "$SECONDS_PER_RUN" "$out"

    read -r c0b1 c0t1 < <(bench_cpu_busy "$PROXY_CPU")
    read -r c1b1 c1t1 < <(bench_cpu_busy "$BACKEND_CPU")
    p1=$(proxy_ticks "$target")
    n1=$(bench_cpu_ticks_sum "${NGINX_PIDS[@]}")
    # HAProxy's own count of TLS connections, and its session reuse over the last second
    [[ $target == haproxy ]] && read -r s1 sreuse < <(haproxy_info CumSslConns SslFrontendSessionReuse_pct)
    touch "$stop"
    wait "$spid" "$cpid" 2>/dev/null || true
    bench_stop_pid "$spid"
    bench_stop_pid "$cpid"
    local threads names iou rustc
    read -r threads names iou < <(bench_thread_summary "$samples")
    rustc=$(bench_compilers_max "$samples.rustc")
    check_proxy_alive "$target" "$ppid" "during handshake round $round"
    read -r a1 q1 < <(nginx_counts)
    local newc=$((a1 - a0 - 1)) stls="-"
    [[ $s0 =~ ^[0-9]+$ && $s1 =~ ^[0-9]+$ ]] && stls=$((s1 - s0))

    local reqs dur hs full resumed failed errs non2xx p50 p99 pmax
    read -r reqs dur hs full resumed failed errs non2xx p50 p99 pmax < <(loadgen_fields "$out.json")
    local row
    row=$(awk -v tk="$CLK_TCK" -v f="$full" -v r="$reqs" -v d="$dur" -v p="$((p1 - p0))" -v n="$((n1 - n0))" \
        -v w="$CLIENT_TICKS" -v nc="$newc" 'BEGIN {
            cpu = p / tk
            printf "%.1f,%.2f,%s,%s,%.1f,%s,%s,%s\n", (d > 0 ? f / d : 0), cpu,
                (f > 0 ? sprintf("%.1f", cpu / f * 1e6) : ""), (cpu > 0 ? sprintf("%.0f", f / cpu) : ""),
                (d > 0 ? 100 * cpu / d : 0), (f > 0 ? sprintf("%.1f", n / tk / f * 1e6) : ""),
                (f > 0 ? sprintf("%.1f", w / tk / f * 1e6) : ""), (r > 0 ? sprintf("%.4f", 100 * (1 - nc / r)) : "") }')
    local hsps pcpu pper perc busy nper cper reuse
    IFS=, read -r hsps pcpu pper perc busy nper cper reuse <<<"$row"
    local foreign0 busy1 foreign1 noise
    foreign0=$(awk -v b="$((c0b1 - c0b0))" -v t="$((c0t1 - c0t0))" -v p="$((p1 - p0))" \
        'BEGIN {f = (t > 0) ? 100 * (b - p) / t : 0; if (f < 0) f = 0; printf "%.0f", f}')
    busy1=$(awk -v b="$((c1b1 - c1b0))" -v t="$((c1t1 - c1t0))" 'BEGIN {printf "%.0f", (t > 0) ? 100 * b / t : 0}')
    foreign1=$(awk -v b="$((c1b1 - c1b0))" -v t="$((c1t1 - c1t0))" -v o="$((n1 - n0 + CLIENT_TICKS))" \
        'BEGIN {f = (t > 0) ? 100 * (b - o) / t : 0; if (f < 0) f = 0; printf "%.0f", f}')
    noise=$((foreign0 > foreign1 ? foreign0 : foreign1))
    local pfds prss
    pfds=$(find "/proc/$ppid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
    prss=$(awk '/^VmRSS:/ {print $2}' "/proc/$ppid/status" 2>/dev/null)
    echo "tls,$round,$target,$reqs,$dur,$hs,$full,$resumed,$failed,$errs,$non2xx,$hsps,$p50,$p99,$pmax,$pcpu,$pper,$perc,$busy,$nper,$cper,$newc,$reuse,$stls,$sreuse,$threads,$names,$iou,$foreign0,$busy1,$foreign1,$noise,$pfds,$prss,$rustc,$(target_driver "$target")" >>"$HS_CSV"

    bench_log "round $round $(printf '%-8s' "$target") $hsps handshakes/s ($full full, $resumed resumed, $failed failed; $reqs requests, $errs errors, $non2xx non-2xx) p50 ${p50}µs p99 ${p99}µs | proxy CPU ${pcpu}s = ${pper} µs/handshake = $perc handshakes per CPU-s (busy ${busy}%) | loadgen ${cper} µs/handshake | backend: $newc new conns | server TLS conns $stls, reuse $sreuse% | threads $threads ($names) | foreign: CPU$PROXY_CPU ${foreign0}% CPU$BACKEND_CPU ${foreign1}%"
    [[ $resumed -eq 0 ]] || bench_log "WARNING: $target round $round: $resumed handshakes were resumed"
    [[ $((failed + errs + non2xx)) -eq 0 ]] || bench_log "WARNING: $target round $round: $failed failed handshakes, $errs errors, $non2xx non-2xx"
    [[ $rustc -eq 0 ]] || bench_log "WARNING: $target round $round: up to $rustc rustc processes ran during the run (noise)"
    if [[ -n $iou && $iou -gt 0 ]]; then
        bench_log "WARNING: $target round $round: up to $iou io_uring worker threads (iou-wrk) seen"
    fi
}

# HS_CSV columns (1-based) used below: 3 target, 7 full, 8 resumed, 9 failed, 10 errors,
# 12 handshakes/s, 13 p50_us, 14 p99_us, 17 proxy µs/handshake, 18 handshakes per CPU-s,
# 19 proxy busy %, 21 loadgen µs/handshake, 32 noise
declare -A SR SC SP SB S5 S9 SL SN SF
hs_table() {
    local maxf=$1 t
    for t in "${TARGET_LIST[@]}"; do
        SR[$t]=$(awk -F, -v t="$t" -v m="$maxf" 'NR > 1 && $3 == t && $32 <= m {print $12}' "$HS_CSV" | bench_median)
        SC[$t]=$(awk -F, -v t="$t" -v m="$maxf" 'NR > 1 && $3 == t && $32 <= m && $17 != "" {print $17}' "$HS_CSV" | bench_median)
        SP[$t]=$(awk -F, -v t="$t" -v m="$maxf" 'NR > 1 && $3 == t && $32 <= m && $18 != "" {print $18}' "$HS_CSV" | bench_median)
        SB[$t]=$(awk -F, -v t="$t" -v m="$maxf" 'NR > 1 && $3 == t && $32 <= m {print $19}' "$HS_CSV" | bench_median)
        S5[$t]=$(awk -F, -v t="$t" -v m="$maxf" 'NR > 1 && $3 == t && $32 <= m {print $13}' "$HS_CSV" | bench_median)
        S9[$t]=$(awk -F, -v t="$t" -v m="$maxf" 'NR > 1 && $3 == t && $32 <= m {print $14}' "$HS_CSV" | bench_median)
        SL[$t]=$(awk -F, -v t="$t" -v m="$maxf" 'NR > 1 && $3 == t && $32 <= m && $21 != "" {print $21}' "$HS_CSV" | bench_median)
        SN[$t]=$(awk -F, -v t="$t" -v m="$maxf" 'NR > 1 && $3 == t && $32 <= m' "$HS_CSV" | wc -l)
        SF[$t]=$(awk -F, -v t="$t" -v m="$maxf" 'NR > 1 && $3 == t && $32 <= m {f += $7; r += $8; x += $9 + $10}
            END {printf "%d / %d / %d", f, r, x}' "$HS_CSV")
    done
    local hr="" hp=""
    if has_target haproxy; then hr=${SR[haproxy]}; hp=${SP[haproxy]}; fi
    echo "| target | runs | handshakes/s (median) | proxy CPU µs/handshake | handshakes per proxy CPU-second | proxy CPU busy % | p50 ms | p99 ms | handshakes/s ÷ HAProxy | per CPU-second ÷ HAProxy | full / resumed / failed+errors | loadgen µs/handshake |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"
    for t in "${TARGET_LIST[@]}"; do
        awk -v t="$t" -v n="${SN[$t]}" -v r="${SR[$t]}" -v c="${SC[$t]}" -v p="${SP[$t]}" -v b="${SB[$t]}" \
            -v p5="${S5[$t]}" -v p9="${S9[$t]}" -v l="${SL[$t]}" -v fr="${SF[$t]}" -v hr="$hr" -v hp="$hp" '
            function f(x, fmt) { return (x == "nan" || x == "") ? "—" : sprintf(fmt, x) }
            function q(x, y) { return (x == "nan" || x == "" || y == "" || y == "nan" || y + 0 <= 0) ? "—" : sprintf("%.3f", x / y) }
            BEGIN {
            printf "| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", t, n, f(r, "%.0f"), f(c, "%.1f"),
                f(p, "%.0f"), f(b, "%.0f"), f(p5 / 1000, "%.2f"), f(p9 / 1000, "%.2f"), q(r, hr), q(p, hp), fr, f(l, "%.1f") }'
    done
}

# hs_goal: the issue's handshake goal, from the medians of hs_table.
hs_goal() {
    awk -v s="${SP[spillway]}" -v h="${SP[haproxy]}" 'BEGIN {
        if (s == "nan" || h == "nan" || h <= 0) { print "- goal: n/a (needs haproxy and spillway)"; exit }
        print "| goal | result | |"
        print "|---|---|---|"
        printf "| spillway handshakes per CPU-second ≥ HAProxy'"'"'s | %.0f vs %.0f (%.3f×) | %s |\n", s, h, s / h, (s >= h ? "**met**" : "**missed**")
    }'
}

# hs_summary MD: the markdown of the handshake runs from $HS_CSV.
hs_summary() {
    local md=$1 other
    {
        echo "All runs:"
        echo
        hs_table 100
        echo
        if has_target spillway && has_target haproxy; then
            hs_goal
            echo
        fi
        for other in haproxy nginx; do
            if has_target spillway && has_target "$other"; then
                printf -- '- medians of the per-round (paired) ratios spillway ÷ %s: handshakes per CPU-second %.3f, handshakes/s %.3f\n' "$other" \
                    "$(paired_ratio "$HS_CSV" 18 spillway "$other")" "$(paired_ratio "$HS_CSV" 12 spillway "$other")"
            fi
        done
        echo
        echo "Quiet runs only (foreign load ≤ ${QUIET_PCT}% on the CPUs the run uses):"
        echo
        hs_table "$QUIET_PCT"
        echo
        echo "Raw runs:"
        echo
        echo "| round | target | handshakes/s | full | resumed | failed | errors (non-2xx) | p50 ms | p99 ms | proxy CPU s | proxy µs/handshake | handshakes per CPU-s | proxy busy % | backend nginx µs/hs | loadgen µs/hs | new backend conns | server TLS conns (HAProxy) | HAProxy reuse % (last s) | proxy threads | CPU$PROXY_CPU foreign % | CPU$BACKEND_CPU foreign % | proxy fds after | proxy RSS KiB after | rustc seen |"
        echo "|---:|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|"
        awk -F, 'function d(x) { return x == "" ? "—" : x } NR > 1 {
            printf "| %s | %s | %s | %s | %s | %s | %s (%s) | %.2f | %.2f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
                $2, $3, $12, $7, $8, $9, $10, $11, $13 / 1000, $14 / 1000, $16, d($17), d($18), $19, d($20), d($21), $22,
                ($24 == "-" ? "—" : $24), ($25 == "-" ? "—" : $25), ($26 == "" ? "—" : $26 " (" $27 ")"), $29, $31, d($33), d($34), d($35) }' "$HS_CSV"
        echo
        echo "One handshake = one new TCP connection, a full TLS handshake (loadgen --no-resume: no session"
        echo "ticket or id offered; loadgen counts full and resumed handshakes itself), one GET of $HTTP_BODY_SIZE bytes"
        echo "with Connection: close, and the close: the proxy's CPU per handshake covers all of that."
        echo "Handshakes/s = full handshakes ÷ loadgen's measured duration; handshakes per proxy CPU-second = full"
        echo "handshakes ÷ the proxy's utime+stime over the run (for the nginx proxy master + worker). The client"
        echo "(loadgen, one thread) shares CPU$BACKEND_CPU with the backend nginx, so handshakes/s may be bound by"
        echo "CPU$BACKEND_CPU rather than by the proxy (see proxy busy %); the per-CPU-second figure is the proxy's cost."
        echo "$RUNS rounds × ${SECONDS_PER_RUN} s, targets alternated within each round."
    } >"$md"
}

# Mode tls: the proxies terminate TLS in front of the l7 backend; per round, keep-alive
# requests over TLS (wrk) through every target, then new full handshakes (loadgen) through
# every target.
mode_tls() {
    need openssl python3
    http_prepare
    tls_make_cert
    copy_loadgen
    HTTP_SCHEME=https
    http_start_proxies
    tls_check_ciphers

    local stamp t r
    stamp=$(date +%Y%m%d-%H%M%S)
    http_results "$stamp"
    HS_CSV=$RESULTS/tls-$stamp-handshakes.csv
    echo "mode,round,target,requests,duration_s,handshakes,full,resumed,failed,errors,non2xx,hs_per_s,p50_us,p99_us,max_us,proxy_cpu_s,proxy_us_per_hs,hs_per_cpu_s,proxy_busy_pct,nginx_us_per_hs,client_us_per_hs,backend_new_conns,reuse_pct,server_tls_conns,server_reuse_pct,proxy_threads_max,proxy_thread_names,iou_wrk_max,cpu0_foreign_pct,cpu1_busy_pct,cpu1_foreign_pct,noise_pct,proxy_fds_after,proxy_rss_kib_after,rustc_max,proxy_driver" >"$HS_CSV"
    LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
    local ka=0 hs=0
    [[ $TLS_PARTS == *keepalive* ]] && ka=1
    [[ $TLS_PARTS == *handshakes* ]] && hs=1
    if [[ $WARMUP -gt 0 ]]; then
        bench_log "warm-up: ${WARMUP}s per target and part ($TLS_PARTS)"
        for t in "${TARGET_LIST[@]}"; do
            if ((ka)); then run_wrk_http "$(l4_port "$t")" "$WARMUP" "$BENCH_TMP/wrk-warmup-$t.out"; fi
            if ((hs)); then run_loadgen_hs "$(l4_port "$t")" "$WARMUP" "$BENCH_TMP/loadgen-warmup-$t.out"; fi
        done
    fi
    bench_log "measuring: $RUNS rounds × ($TLS_PARTS) × ${SECONDS_PER_RUN}s × (${TARGET_LIST[*]})"
    for ((r = 1; r <= RUNS; r++)); do
        for t in "${TARGET_LIST[@]}"; do
            ((ka)) || break
            wait_quiet "$SETTLE"
            http_measure "$t" "$r"
        done
        for t in "${TARGET_LIST[@]}"; do
            ((hs)) || break
            wait_quiet "$SETTLE"
            tls_hs_measure "$t" "$r"
        done
    done

    local md=$RESULTS/tls-$stamp.md
    {
        echo "# spillway bench: tls (HTTPS listeners in front of nginx, GET of $HTTP_BODY_SIZE bytes), $(date -u '+%Y-%m-%d %H:%M UTC')"
        echo
        echo "command: bench/compare.sh tls --runs $RUNS --seconds $SECONDS_PER_RUN --warmup $WARMUP --settle $SETTLE --load $LOAD --targets $TARGETS"
        http_versions
        echo "loadgen: $LOADGEN_SRC (sha256 $LOADGEN_SHA…), rustls 0.23 with ring"
        echo "certificate: ECDSA P-256 (prime256v1), self-signed, one PEM with the key ($TLS_PEM) for every proxy"
        echo "load average before/after: $LOAD_BEFORE / $(cut -d' ' -f1-3 /proc/loadavg)"
        echo
        echo "Negotiated (openssl s_client before the runs; protocol, cipher, key exchange):"
        echo
        local ka_offer="wrk, offering only TLS_AES_128_GCM_SHA256 and X25519"
        [[ $LOAD == loadgen ]] && ka_offer="loadgen, the same offer as the handshake runs"
        echo "| target | keep-alive runs ($ka_offer) | handshake runs (loadgen's rustls offer: $RUSTLS_SUITES; $RUSTLS_GROUPS) |"
        echo "|---|---|---|"
        for t in "${TARGET_LIST[@]}"; do echo "| $t | ${TLS_KA[$t]} | ${TLS_HS[$t]} |"; done
        [[ $TLS_CIPHERS_SAME == 1 ]] || { echo; echo "**WARNING: the proxies did not all negotiate the same.**"; }
        echo
        [[ $TLS_PARTS == keepalive,handshakes ]] || echo "Measured: $TLS_PARTS only (TLS_PARTS)."
    } >"$md.head"
    : >"$md.ka"
    : >"$md.hs"
    if ((ka)); then
        printf '\n## Keep-alive requests over TLS (%s -t1 -c%s https://…)\n\n' "$LOAD" "$HTTP_CONNS" >"$md.mid"
        http_summary "$md.body"
        cat "$md.mid" "$md.body" >"$md.ka"
    fi
    if ((hs)); then
        printf '\n## New full TLS handshakes (loadgen --new-conn --no-resume -c %s -t 1)\n\n' "$TLS_HS_CONNS" >"$md.mid"
        hs_summary "$md.body"
        cat "$md.mid" "$md.body" >"$md.hs"
    fi
    cat "$md.head" "$md.ka" "$md.hs" >"$md"
    rm -f "$md.head" "$md.ka" "$md.mid" "$md.body" "$md.hs"
    http_keep_spillway_log "$stamp"
    echo
    cat "$md"
    echo
    bench_log "raw CSV: $CSV (keep-alive), $HS_CSV (handshakes)"
    bench_log "summary: $md"
}

# ---------------------------------------------------------------- mode idle

# "VmRSS RssAnon" (KiB) of PID
rss_kib() { awk '/^VmRSS:/ {r = $2} /^RssAnon:/ {a = $2} END {print r + 0, a + 0}' "/proc/$1/status"; }
# Anonymous KiB of PID from smaps_rollup, and the number of mappings
anon_maps() {
    echo "$(awk '/^Anonymous:/ {print $2}' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0) $(wc -l <"/proc/$1/maps")"
}

# idle_measure TARGET CONNS ROUND: a fresh proxy, one GET, RSS; CONNS idle
# keep-alive connections (each has done one GET), RSS again; then they close.
idle_measure() {
    local target=$1 conns=$2 round=$3 ppid port
    case $target in
        haproxy) HAPROXY_MODE=http start_haproxy; ppid=$HAPROXY_PID; port=$HAPROXY_PORT ;;
        spillway) SPILLWAY_PROTOCOL=http start_spillway; ppid=$SPILLWAY_PID; port=$SPILLWAY_PORT ;;
    esac
    check_small_get "$target" "$port"
    sleep 1
    local r0 a0 s0 m0 r1 a1 s1 m1 r2
    read -r r0 a0 < <(rss_kib "$ppid")
    read -r s0 m0 < <(anon_maps "$ppid")
    local ready=$BENCH_TMP/idle-$target-$conns-$round.ready out=$BENCH_TMP/idle-$target-$conns-$round.out pid i
    timeout -k 5 $((IDLE_HOLD + 120)) python3 "$ROOT/bench/idle_conns.py" --port "$port" --conns "$conns" \
        --hold "$IDLE_HOLD" --ready "$ready" --deadline 90 --concurrency "${IDLE_CONCURRENCY:-200}" >"$out" 2>&1 &
    pid=$!
    bench_track "$pid"
    for ((i = 0; i < 1000; i++)); do
        [[ -s $ready ]] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    [[ -s $ready ]] || bench_die "idle client gave no ready line: $(cat "$out")"
    # Let the proxy settle (lazy frees, timers; spillway parks idle connections after 1 s and
    # then releases what their tasks held): at least 2 s, then until VmRSS has not changed for
    # two samples 0.5 s apart, at most 6 s in all (the client holds IDLE_HOLD, 8 s).
    sleep 2
    local prev=-1 same=0
    for ((i = 0; i < 8 && same < 2; i++)); do
        read -r r1 a1 < <(rss_kib "$ppid")
        if [[ $r1 == "$prev" ]]; then same=$((same + 1)); else same=0; fi
        prev=$r1
        ((same < 2)) && sleep 0.5
    done
    check_proxy_alive "$target" "$ppid" "with $conns idle connections"
    read -r r1 a1 < <(rss_kib "$ppid")
    read -r s1 m1 < <(anon_maps "$ppid")
    local estab backend
    estab=$(ss -Htn state established "( sport = :$port )" 2>/dev/null | wc -l)
    backend=$(ss -Htn state established "( dport = :$NGINX_PORT )" 2>/dev/null | wc -l)
    local crc=0
    wait "$pid" || crc=$?
    bench_stop_pid "$pid"
    sleep 1
    check_proxy_alive "$target" "$ppid" "after $conns idle connections closed"
    read -r r2 _ < <(rss_kib "$ppid")
    local okline doneline
    okline=$(head -n 1 "$ready")
    doneline=$(grep '^done ' "$out" || echo "done ?")
    [[ $crc -eq 0 ]] || bench_log "WARNING: $target: idle client: $okline / $doneline (exit $crc)"
    local per peranon
    per=$(awk -v a="$r0" -v b="$r1" -v n="$conns" 'BEGIN {printf "%.3f", (b - a) / n}')
    peranon=$(awk -v a="$a0" -v b="$a1" -v n="$conns" 'BEGIN {printf "%.3f", (b - a) / n}')
    echo "idle,$round,$target,$conns,$r0,$r1,$r2,$per,$a0,$a1,$peranon,$s0,$s1,$m0,$m1,$estab,$backend,${okline// /;},${doneline// /;},$(target_driver "$target")" >>"$CSV"
    bench_log "idle round $round $(printf '%-8s' "$target") $conns conns: VmRSS $r0 -> $r1 KiB (after close $r2) = $per KiB/conn (RssAnon $peranon KiB/conn) | maps $m0 -> $m1 | $estab client conns established, $backend backend | $okline | $doneline"
    case $target in
        haproxy) bench_stop_pid "$HAPROXY_PID" ;;
        spillway) bench_stop_pid "$SPILLWAY_PID" ;;
    esac
}

mode_idle() {
    need nginx haproxy taskset ss curl awk pgrep timeout python3
    check_cpus
    BENCH_TMP=$(mktemp -d /tmp/spillway-bench.XXXXXX)
    local hard
    hard=$(ulimit -Hn)
    ulimit -n "$hard" 2>/dev/null || true
    [[ $hard == unlimited || $hard -ge 10400 ]] || bench_die "needs RLIMIT_NOFILE ≥ 10400 (hard limit $hard)"
    IDLE_HOLD=${IDLE_HOLD:-8}
    local counts=${IDLE_CONNS:-1000,10000} t n r
    IFS=, read -r -a COUNT_LIST <<<"$counts"
    has_target spillway && copy_spillway
    mkdir -p "$BENCH_TMP/nginx/www"
    head -c "$HTTP_BODY_SIZE" /dev/urandom | base64 -w0 | head -c "$HTTP_BODY_SIZE" >"$BENCH_TMP/nginx/www/small.txt"
    NGINX_WORKER_CONNECTIONS=4096 start_nginx
    check_small_get direct "$NGINX_PORT"

    local stamp results
    stamp=$(date +%Y%m%d-%H%M%S)
    results=${RESULTS_DIR:-$ROOT/target/bench-results}
    mkdir -p "$results"
    CSV=$results/idle-$stamp.csv
    echo "mode,round,target,conns,rss_before_kib,rss_idle_kib,rss_after_close_kib,kib_per_conn,anon_before_kib,anon_idle_kib,anon_kib_per_conn,smaps_anon_before,smaps_anon_idle,maps_before,maps_idle,client_conns_established,backend_conns_established,client_ready,client_done,proxy_driver" >"$CSV"
    for ((r = 1; r <= RUNS; r++)); do
        for n in "${COUNT_LIST[@]}"; do
            for t in "${TARGET_LIST[@]}"; do
                [[ $t == direct ]] && continue
                idle_measure "$t" "$n" "$r"
            done
        done
    done
    local md=$results/idle-$stamp.md
    {
        echo "# spillway bench: idle (RSS per idle keep-alive client connection), $(date -u '+%Y-%m-%d %H:%M UTC')"
        echo
        echo "command: IDLE_CONNS=$counts IDLE_HOLD=$IDLE_HOLD IDLE_CONCURRENCY=${IDLE_CONCURRENCY:-200} bench/compare.sh idle --runs $RUNS --targets $TARGETS"
        echo "kernel: $(uname -r); nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'); haproxy $(haproxy -v 2>/dev/null | awk 'NR == 1 {print $3}') (mode http, maxconn ${HAPROXY_HTTP_MAXCONN:-12000})"
        spillway_versions
        echo
        echo "| target | connections | KiB/conn VmRSS (median) | KiB/conn RssAnon (median) |"
        echo "|---|---:|---:|---:|"
        for t in "${TARGET_LIST[@]}"; do
            [[ $t == direct ]] && continue
            for n in "${COUNT_LIST[@]}"; do
                printf '| %s | %s | %.3f | %.3f |\n' "$t" "$n" \
                    "$(awk -F, -v t="$t" -v n="$n" 'NR > 1 && $3 == t && $4 == n {print $8}' "$CSV" | bench_median)" \
                    "$(awk -F, -v t="$t" -v n="$n" 'NR > 1 && $3 == t && $4 == n {print $11}' "$CSV" | bench_median)"
            done
        done
        echo
        echo "Raw runs:"
        echo
        echo "| round | target | conns | VmRSS before KiB | VmRSS idle KiB | VmRSS after close KiB | KiB/conn | RssAnon KiB/conn | mappings before → idle | client conns established | backend conns | client |"
        echo "|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---|"
        awk -F, 'NR > 1 {gsub(/;/, " ", $18); gsub(/;/, " ", $19)
            printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s → %s | %s | %s | %s; %s |\n", $2, $3, $4, $5, $6, $7, $8, $11, $14, $15, $16, $17, $18, $19}' "$CSV"
    } >"$md"
    echo
    cat "$md"
    bench_log "raw CSV: $CSV"
    bench_log "summary: $md"
}

# ---------------------------------------------------------------- mode all

# all_targets MODE: the targets of MODE for mode all: the mode's own list, filtered by
# --targets when it was given ("" when none is left).
all_targets() {
    local mode=$1 t out=""
    local -a list
    IFS=, read -r -a list <<<"$(mode_targets "$mode")"
    for t in "${list[@]}"; do
        [[ -z $TARGETS_GIVEN || ",$TARGETS_GIVEN," == *",$t,"* ]] && out+=${out:+,}$t
    done
    echo "$out"
}

# Mode all: l7, churn, l4, tls and idle one after the other, each as its own invocation of
# this script (own temp dir, processes and cleanup) with the same options, writing into
# RESULTS_DIR/all-STAMP/; then one combined table from their CSVs (bench/lib/all_summary.py).
# A mode that fails is reported as failed and the others still run; nothing is checked
# about the figures.
mode_all() {
    need python3 nginx haproxy
    [[ $LOAD == wrk ]] && need wrk
    [[ ",$(all_targets l4)," == *",nginx,"* ]] && need_nginx_stream
    local stamp results dir t0 m targets rc pid
    stamp=$(date +%Y%m%d-%H%M%S)
    results=${RESULTS_DIR:-$ROOT/target/bench-results}
    dir=$results/all-$stamp
    mkdir -p "$dir"
    # build (or take SPILLWAY_BIN / LOADGEN_BIN) once, so every mode measures the same binaries
    SPILLWAY_BIN=$(spillway_bin)
    LOADGEN_BIN=$(loadgen_bin)
    export SPILLWAY_BIN LOADGEN_BIN
    local idle_conns=${IDLE_CONNS:-10000}
    local -a modes=(l7 churn l4 tls idle) opts=(--runs "$RUNS" --seconds "$SECONDS_PER_RUN" --warmup "$WARMUP"
        --settle "$SETTLE" --load "$LOAD" --haproxy-splice "$HAPROXY_SPLICE")
    local cmd="bench/compare.sh all ${opts[*]}"
    [[ -n $TARGETS_GIVEN ]] && cmd+=" --targets $TARGETS_GIVEN"
    [[ $idle_conns == 10000 ]] || cmd="IDLE_CONNS=$idle_conns $cmd"
    t0=$(date +%s)
    {
        echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
        echo "command=$cmd"
        echo "kernel=$(uname -r)"
        echo "cpus=$(nproc --all) × $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
        echo "haproxy=$(haproxy -v 2>/dev/null | awk 'NR == 1 {print $3}') ($(haproxy -vv 2>/dev/null | grep -m1 'Running on OpenSSL' | sed 's/.*: //'))"
        echo "nginx=$(nginx -v 2>&1 | sed 's/.*nginx\///')"
        echo "wrk=$(command -v wrk >/dev/null && wrk -v 2>&1 | awk 'NR == 1 {print $2}')"
        echo "spillway=$("$SPILLWAY_BIN" --version 2>/dev/null | head -n 1) ($SPILLWAY_BIN, built $(date -u -r "$SPILLWAY_BIN" '+%Y-%m-%d %H:%M UTC'), sha256 $(sha256sum "$SPILLWAY_BIN" | cut -c1-12)…)"
        echo "loadgen=$("$LOADGEN_BIN" --version 2>/dev/null | head -n 1) ($LOADGEN_BIN, sha256 $(sha256sum "$LOADGEN_BIN" | cut -c1-12)…)"
        echo "load=$LOAD"
        echo "runs=$RUNS"
        echo "seconds=$SECONDS_PER_RUN"
        echo "idle_conns=$idle_conns"
        echo "load_before=$(cut -d' ' -f1-3 /proc/loadavg)"
    } >"$dir/head.env"
    bench_log "mode all: ${modes[*]}, $RUNS rounds × ${SECONDS_PER_RUN}s, load $LOAD; results in $dir"
    local failed=()
    for m in "${modes[@]}"; do
        targets=$(all_targets "$m")
        if [[ -z $targets || ($m == idle && $targets == direct) ]]; then
            bench_log "mode all: $m skipped (no target of --targets $TARGETS_GIVEN)"
            echo "$m skipped" >>"$dir/status.txt"
            continue
        fi
        bench_log "mode all: $m ($targets) starts; log $dir/$m.log"
        local t1
        t1=$(date +%s)
        rc=0
        RESULTS_DIR=$dir IDLE_CONNS=$idle_conns "$ROOT/bench/compare.sh" "$m" "${opts[@]}" --targets "$targets" \
            >"$dir/$m.log" 2>&1 &
        pid=$!
        bench_track "$pid"
        # its progress lines on our stderr while it runs
        tail -n +1 -f --pid="$pid" "$dir/$m.log" | grep --line-buffered '^\[bench ' >&2 &
        bench_track "$!"
        wait "$pid" || rc=$?
        bench_stop_pid "$pid"
        sleep 0.5
        if [[ $rc -eq 0 ]]; then
            echo "$m ok $(($(date +%s) - t1))" >>"$dir/status.txt"
        else
            echo "$m failed $(($(date +%s) - t1)) exit $rc" >>"$dir/status.txt"
            failed+=("$m")
            bench_log "mode all: $m FAILED (exit $rc); see $dir/$m.log; going on with the others"
        fi
    done
    echo "elapsed_s=$(($(date +%s) - t0))" >>"$dir/head.env"
    echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$dir/head.env"
    local md=$dir/all.md json=$dir/all.json
    python3 "$ROOT/bench/lib/all_summary.py" "$dir" "$md" "$json" ||
        bench_die "could not write the combined table (bench/lib/all_summary.py $dir)"
    cp "$md" "$results/all-$stamp.md"
    cp "$json" "$results/all-$stamp.json"
    echo
    cat "$md"
    echo
    bench_log "combined table: $results/all-$stamp.md, JSON: $results/all-$stamp.json (per-mode CSVs, summaries and logs in $dir)"
    bench_log "mode all took $(($(date +%s) - t0)) s"
    [[ ${#failed[@]} -eq 0 ]] || bench_die "mode all: ${failed[*]} failed (the table has the others)"
}

# ---------------------------------------------------------------- mode drivers

# Mode drivers: l7 and churn with haproxy and spillway on each driver, alternated within every
# round: spillway (the default config: auto), spillway-io_uring and spillway-epoll. Each mode
# runs as its own invocation of this script (as in mode all); bench/lib/drivers_summary.py
# writes one table of both, with the default config's CPU per request against HAProxy's.
mode_drivers() {
    need python3 nginx haproxy
    [[ $LOAD == wrk ]] && need wrk
    local stamp results dir m rc pid targets=$TARGETS
    stamp=$(date +%Y%m%d-%H%M%S)
    results=${RESULTS_DIR:-$ROOT/target/bench-results}
    dir=$results/drivers-$stamp
    mkdir -p "$dir"
    SPILLWAY_BIN=$(spillway_bin)
    LOADGEN_BIN=$(loadgen_bin)
    export SPILLWAY_BIN LOADGEN_BIN
    local -a opts=(--runs "$RUNS" --seconds "$SECONDS_PER_RUN" --warmup "$WARMUP" --settle "$SETTLE" --load "$LOAD")
    {
        echo "# spillway bench: drivers (l7 and churn, $LOAD -t1 -c64), $(date -u '+%Y-%m-%d %H:%M UTC')"
        echo
        echo "command: \`bench/compare.sh drivers ${opts[*]} --targets $targets\`"
        echo
        echo "- kernel $(uname -r); CPUs: $(nproc --all); proxy on CPU $PROXY_CPU, backend nginx and client on CPU $BACKEND_CPU"
        echo "- HAProxy $(haproxy -v 2>/dev/null | awk 'NR == 1 {print $3}') (mode http, http-reuse always); nginx $(nginx -v 2>&1 | sed 's/.*nginx\///')"
        echo "- spillway $("$SPILLWAY_BIN" --version 2>/dev/null | head -n 1) (sha256 $(sha256sum "$SPILLWAY_BIN" | cut -c1-12)…), threads = 1; spillway: no driver key (auto); spillway-io_uring, spillway-epoll: that driver"
        echo "- $RUNS rounds × $SECONDS_PER_RUN s, targets alternated within each round; medians over the rounds"
    } >"$dir/head.md"
    local failed=()
    for m in l7 churn; do
        bench_log "mode drivers: $m ($targets) starts; log $dir/$m.log"
        rc=0
        RESULTS_DIR=$dir "$ROOT/bench/compare.sh" "$m" "${opts[@]}" --targets "$targets" >"$dir/$m.log" 2>&1 &
        pid=$!
        bench_track "$pid"
        tail -n +1 -f --pid="$pid" "$dir/$m.log" | grep --line-buffered '^\[bench ' >&2 &
        bench_track "$!"
        wait "$pid" || rc=$?
        bench_stop_pid "$pid"
        sleep 0.5
        [[ $rc -eq 0 ]] || { failed+=("$m"); bench_log "mode drivers: $m FAILED (exit $rc); see $dir/$m.log"; }
    done
    local md=$results/drivers-$stamp.md
    python3 "$ROOT/bench/lib/drivers_summary.py" "$dir" "$md" "$dir/head.md" ||
        bench_die "could not write the drivers table (bench/lib/drivers_summary.py $dir)"
    echo
    cat "$md"
    echo
    bench_log "drivers table: $md (per-mode summaries, CSVs and logs in $dir)"
    [[ ${#failed[@]} -eq 0 ]] || bench_die "mode drivers: ${failed[*]} failed"
}

main() {
    parse_args "$@"
    bench_install_traps
    case $MODE in
        l4) mode_l4 ;;
        l7) mode_l7 ;;
        churn) mode_churn ;;
        tls) mode_tls ;;
        idle) mode_idle ;;
        drivers) mode_drivers ;;
        all) mode_all ;;
        *) bench_die "unknown mode '$MODE' (known: l4, l7, churn, tls, idle, drivers, all)" ;;
    esac
}

main "$@"
