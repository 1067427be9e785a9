#!/usr/bin/env bash
# Compare spillway against HAProxy, nginx and no proxy at all, on this machine.
#
#   bench/compare.sh l4|l7|churn|tls|idle|drivers|rules|all [--runs N] [--seconds S] [--warmup S] [--settle S]
#                       [--load loadgen|wrk] [--haproxy-splice auto|response|both|off]
#                       [--targets direct,haproxy,nginx,spillway]
#
# spillway runs with its default configuration (driver = "auto"); every CSV row of a spillway
# target records, in column proxy_driver, the driver and io_uring ring flags each shard reported
# at start (its "shard started" log lines). Modes l7 and churn also take the targets
# spillway-io_uring and spillway-epoll (the same binary with that driver set); mode drivers runs
# l7 and churn with haproxy, spillway (auto), spillway-io_uring and spillway-epoll side by side.
#
# Modes are functions named mode_<name> (l4, l7, churn, tls, idle, drivers, rules, all); add more
# the same way. Mode rules measures the listener rules' cost (issue 17): spillway without rules,
# with RULES_N (20) host+path rules in TOML, HAProxy with the same acl/use_backend lines, and
# spillway on that very haproxy.cfg.
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
#   RULES_N         mode rules: the number of rules (default 20; the request matches the last)
#
# Needs: nginx, haproxy, taskset, ss, curl, python3 (--load wrk: wrk; tls: openssl; l4 with target
# nginx: nginx's stream module, package libnginx-mod-stream). Only 127.0.0.1 is
# ever used; every process started here is tracked by PID and stopped on exit.
#
# Layout of the work: this script starts, pins, samples and stops the processes, and copies the
# raw counters of every run (/proc/stat, the processes' /proc/PID/stat, nginx's stub_status, the
# clients' reports) into a run directory of its temp dir. The Python package bench/lib/spillbench
# (`bench_py`) reads those by name: it writes the CSV rows and the run's log line, and the
# Markdown summaries (python3 -m unittest discover bench/lib runs its tests).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib/common.sh
source "$ROOT/bench/lib/common.sh"

PROXY_CPU=0
BACKEND_CPU=1
# spillway with the driver set by hand, beside the default (auto): modes l7, churn and drivers
SPILLWAY_DRIVER_TARGETS="spillway-io_uring,spillway-epoll"
# The targets of mode rules besides spillway (no rules): the rules in TOML, HAProxy with the same
# rules, spillway on HAProxy's file.
RULES_TARGETS="spillway-rules,haproxy-rules,spillway-haproxy-cfg"
# Per spillway target (spillway, spillway-io_uring, spillway-epoll, spillway-rules,
# spillway-haproxy-cfg): port, pid, config, log, and the driver its shards reported.
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
  rules the listener rules' cost, HTTP keep-alive (client -t1 -c64, default --load wrk) with
        Host: h20.example, GET /p20/x: spillway without rules (spillway), with 20 host_header +
        path_pattern rules in TOML of which the request matches the last (spillway-rules),
        HAProxy with the same 20 acl pairs + use_backend lines (haproxy-rules), and spillway
        started on that very haproxy.cfg (spillway-haproxy-cfg); optional target haproxy (HAProxy
        without rules). Each run starts its proxy afresh. Summary with the ratios and issue 17's
        goals in RESULTS_DIR/rules-STAMP.md and .json (env RULES_N=20)
  all   l7, churn, l4, tls and idle (IDLE_CONNS=10000) in turn with the same options, then one
        combined table (markdown) and its JSON in RESULTS_DIR/all-STAMP/

options:
  --runs N        rounds (each round runs every target once; default 5)
  --seconds S     length of each measured run (default 10)
  --warmup S      unrecorded warm-up per target before the first round (default 2, 0 = none)
  --load loadgen|wrk
                  the client of l4, l7, churn, rules and tls keep-alive: the bundled loadgen (default;
                  closed loop, -t 1 --cpus 1) or wrk (-t1; the default of mode rules); tls
                  handshakes always use loadgen
  --targets LIST  comma-separated subset of direct,haproxy,nginx,spillway (default: all the mode
                  has: l4, l7, churn all four; tls haproxy,nginx,spillway;
                  idle haproxy,spillway; rules spillway,spillway-rules,haproxy-rules,
                  spillway-haproxy-cfg); l7 and churn also take spillway-io_uring and
                  spillway-epoll, rules also haproxy
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
# the client: --load, else wrk in mode rules and loadgen in the others
LOAD=""

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
    if [[ -z $LOAD ]]; then
        LOAD=loadgen
        [[ $MODE == rules ]] && LOAD=wrk
    fi
    [[ $LOAD =~ ^(loadgen|wrk)$ ]] || bench_die "--load must be loadgen or wrk"
    TARGETS_GIVEN=$TARGETS
    local t supported
    supported=$(mode_targets "$MODE")
    # no --targets: every target the mode has
    [[ -n $TARGETS ]] || TARGETS=$supported
    IFS=, read -r -a TARGET_LIST <<<"$TARGETS"
    local allowed=$supported
    [[ $MODE == l7 || $MODE == churn ]] && allowed+=",$SPILLWAY_DRIVER_TARGETS"
    [[ $MODE == rules ]] && allowed+=",haproxy"
    for t in "${TARGET_LIST[@]}"; do
        case $t in direct | haproxy | nginx | spillway | spillway-io_uring | spillway-epoll | spillway-rules | haproxy-rules | spillway-haproxy-cfg) ;; *) bench_die "unknown target '$t'" ;; esac
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
        rules) echo "spillway,$RULES_TARGETS" ;;
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
    local v
    if [[ $LOAD == wrk ]]; then
        read -r _ v _ < <(wrk -v 2>&1) || true
        echo "wrk $v"
    else
        read -r _ v _ < <("$LOADGEN" --version 2>/dev/null) || true
        echo "loadgen $v ($LOADGEN_SRC, sha256 $LOADGEN_SHA…)"
    fi
}

# nginx_version, haproxy_version, haproxy_openssl: versions for the summaries' heads.
nginx_version() {
    local v
    v=$(nginx -v 2>&1)
    echo "${v##*nginx/}"
}
haproxy_version() {
    local v
    read -r _ _ v _ < <(haproxy -v 2>/dev/null) || true
    echo "$v"
}
haproxy_openssl() {
    local v
    v=$(haproxy -vv 2>/dev/null | grep -m1 'Running on OpenSSL') || true
    echo "${v##*: }"
}

# bench_py COMMAND ARGS...: the Python side (bench/lib/spillbench): parsing, figures, CSV rows,
# summaries.
bench_py() { PYTHONPATH="$ROOT/bench/lib${PYTHONPATH:+:$PYTHONPATH}" python3 -m spillbench "$@"; }

# bench_py_ctx COMMAND ARGS...: bench_py with what the figures and summaries need to know of
# this invocation (mode, client, targets, rounds, CPUs, connections, body size).
bench_py_ctx() {
    bench_py "$@" --mode "$MODE" --load "$LOAD" --targets "$TARGETS" --runs "$RUNS" \
        --seconds "$SECONDS_PER_RUN" --quiet "$QUIET_PCT" --proxy-cpu "$PROXY_CPU" \
        --backend-cpu "$BACKEND_CPU" --conns "$HTTP_CONNS" --body-size "$BODY_SIZE" --hs-conns "$TLS_HS_CONNS"
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

# nginx serving $BENCH_TMP/www on 127.0.0.1:$NGINX_PORT, pinned to the backend CPU. With
# NGINX_MISS=1 (mode rules) a third server, on NGINX_MISS_PORT, answers every request with 421:
# the default group of the rules' targets, which no measured request should reach.
start_nginx() {
    local dir=$BENCH_TMP/nginx miss=""
    mkdir -p "$dir/www" "$dir/tmp"
    NGINX_PORT=$(bench_free_port)
    NGINX_STATUS_PORT=$(bench_free_port)
    if [[ ${NGINX_MISS:-0} == 1 ]]; then
        NGINX_MISS_PORT=$(bench_free_port)
        miss="    server {
        listen 127.0.0.1:$NGINX_MISS_PORT;
        location / { return 421 \"no rule matched\\n\"; }
    }"
    fi
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
$miss
}
EOF
    launch_nginx "$dir" "$BACKEND_CPU" "$NGINX_PORT"
    NGINX_PID=${LAUNCHED_PIDS[0]}
    NGINX_PIDS=("${LAUNCHED_PIDS[@]}")
    bench_log "nginx $(nginx_version) pid $NGINX_PID (workers: ${NGINX_PIDS[*]:1}) on 127.0.0.1:$NGINX_PORT, CPU $BACKEND_CPU"
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

# haproxy_info: HAProxy's `show info` from its stats socket (mode tls), as it answered (empty
# when it did not).
haproxy_info() {
    (exec 3<>"/dev/tcp/127.0.0.1/$HAPROXY_STATS_PORT" && printf 'show info\n' >&3 && timeout 5 cat <&3) 2>/dev/null || true
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
    HAPROXY_VERSION=$(haproxy_version)
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
# auto); spillway-rules and spillway-haproxy-cfg (mode rules) run the configuration and port
# that rules_write_configs left in SPW_CONF and SPW_PORT. Sets
# SPW_PORT/SPW_PID/SPW_CONF/SPW_LOG/SPW_DRIVER[TARGET], and for TARGET spillway also
# SPILLWAY_PORT and SPILLWAY_PID.
start_spillway() {
    local target=${1:-spillway}
    local dir=$BENCH_TMP/$target bin=$BENCH_TMP/spillway/spillway driver_line=""
    mkdir -p "$dir"
    [[ -x $bin ]] || bin=$(spillway_bin)
    case $target in
        spillway) ;;
        spillway-rules | spillway-haproxy-cfg)
            launch_spillway "$target" "$bin" "${SPW_CONF[$target]:?}" "${SPW_PORT[$target]:?}"
            return ;;
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
    launch_spillway "$target" "$bin" "$dir/$name.toml" "$port"
}

# launch_spillway TARGET BIN CONF PORT: BIN -f CONF on CPU $PROXY_CPU, which must listen on
# 127.0.0.1:PORT and log its shards' drivers; its log is $BENCH_TMP/TARGET/spillway.log (the
# log of an earlier start of TARGET is kept in spillway.earlier.log).
launch_spillway() {
    local target=$1 bin=$2 conf=$3 port=$4 log=$BENCH_TMP/$1/spillway.log pid
    mkdir -p "$BENCH_TMP/$target"
    [[ -s $log ]] && cat "$log" >>"$BENCH_TMP/$target/spillway.earlier.log"
    taskset -c "$PROXY_CPU" "$bin" -f "$conf" >"$log" 2>&1 &
    pid=$!
    bench_track "$pid"
    SPW_PORT[$target]=$port SPW_PID[$target]=$pid SPW_CONF[$target]=$conf SPW_LOG[$target]=$log
    if [[ $target == spillway ]]; then
        SPILLWAY_PORT=$port SPILLWAY_PID=$pid
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
    # when their runtime is up, a moment later: wait up to 5 s for their lines.
    local i
    for ((i = 0; i < 100; i++)); do
        grep -q 'shard started' "$log" && break
        sleep 0.05
    done
    SPW_DRIVER[$target]=$(bench_py driver-report "$log")
    [[ -n ${SPW_DRIVER[$target]} ]] || bench_die "$target logged no 'shard started' line within 5 s; log: $(tail -n 20 "$log")"
    SPILLWAY_VERSION=$("$bin" --version 2>/dev/null | head -n 1 || true)
    bench_log "$target ${SPILLWAY_VERSION:-?} pid $pid on 127.0.0.1:$port, CPU $PROXY_CPU, driver ${SPW_DRIVER[$target]}"
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


# ---------------------------------------------------------------- clients

# wrk's report script: its exact totals and latency percentiles (µs) in one BENCH line, which
# bench/lib/spillbench reads.
write_wrk_lua() {
    cat >"$BENCH_TMP/report.lua" <<'LUA'
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "BENCH bytes=%d duration_us=%d requests=%d err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
        summary.bytes, summary.duration, summary.requests,
        e.connect, e.read, e.write, e.status, e.timeout,
        latency:percentile(50.0), latency:percentile(90.0), latency:percentile(99.0), latency.max))
end
LUA
}

# run_client LIMIT OUTFILE CMD...: CMD on the backend CPU (the client's), killed after LIMIT
# seconds (timeout), stdout and stderr to OUTFILE. A small bash wrapper waits for it and
# writes its children's CPU time (`times`) to OUTFILE.times; on SIGTERM the wrapper stops
# timeout, which stops CMD. Sets CLIENT_RC.
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
}

# client_failed WHAT OUTFILE: stop with the client's exit status and the end of its output.
client_failed() {
    bench_die "$1 failed (exit $CLIENT_RC$([[ $CLIENT_RC -eq 124 ]] && echo ': timed out')): $(tail -n 20 "$2")"
}

# run_loadgen_http PORT SECONDS OUTFILE URL CONNS [LOADGEN ARGS...]: the bundled load
# generator, closed loop, one thread pinned to the backend CPU (run_client), CONNS connections;
# its JSON summary goes to OUTFILE.json. https:// URLs are driven with --insecure (the bench
# certificate is self-signed).
run_loadgen_http() {
    local port=$1 secs=$2 out=$3 url=$4 conns=$5
    shift 5
    local lg_args=("$@")
    [[ $url == https://* ]] && lg_args+=(--insecure)
    rm -f "$out.json"
    run_client $((secs + 30)) "$out" "$LOADGEN" "$url" -t 1 --cpus "$BACKEND_CPU" -c "$conns" \
        -d "${secs}s" --json "$out.json" -q "${lg_args[@]}"
    [[ $CLIENT_RC -eq 0 ]] || client_failed "loadgen on port $port" "$out"
    [[ -s $out.json ]] || bench_die "loadgen wrote no JSON summary: $(tail -n 20 "$out")"
}

# run_wrk_cmd PORT SECONDS OUTFILE CONNS URL [WRK ARGS...]: wrk -t1 with report.lua on the
# backend CPU (run_client), which must print its BENCH line.
run_wrk_cmd() {
    local port=$1 secs=$2 out=$3 conns=$4 url=$5 envs=()
    shift 5
    [[ -n $WRK_OPENSSL_CONF ]] && envs=("OPENSSL_CONF=$WRK_OPENSSL_CONF")
    run_client $((secs + 30)) "$out" env "${envs[@]}" wrk -t1 -c"$conns" -d"${secs}s" \
        -s "$BENCH_TMP/report.lua" "$@" "$url"
    [[ $CLIENT_RC -eq 0 ]] || client_failed "wrk on port $port" "$out"
    grep -q '^BENCH ' "$out" || bench_die "no BENCH line in wrk output: $(cat "$out")"
}

# run_wrk PORT SECONDS OUTFILE: the client of mode l4, 4 connections downloading /16m.bin.
run_wrk() {
    if [[ $LOAD == loadgen ]]; then
        run_loadgen_http "$1" "$2" "$3" "http://127.0.0.1:$1/16m.bin" 4 --timeout 20s
    else
        run_wrk_cmd "$1" "$2" "$3" 4 "http://127.0.0.1:$1/16m.bin"
    fi
}

# run_wrk_http PORT SECONDS OUTFILE: the client of modes l7, churn and tls keep-alive (wrk -t1
# -c64 --latency, or with --load loadgen the bundled loadgen -t 1 -c64) on the backend CPU,
# bounded in time; in mode churn every request carries `Connection: close` (loadgen then opens
# a new connection for every request, as wrk does); in mode tls it speaks https (wrk with the
# cipher of $WRK_OPENSSL_CONF); in mode rules every request carries `Host: $HTTP_HOST`.
run_wrk_http() {
    local url=$HTTP_SCHEME://127.0.0.1:$1$HTTP_PATH hdr=()
    [[ $MODE == churn ]] && hdr=(-H "Connection: close")
    [[ -n $HTTP_HOST ]] && hdr+=(-H "Host: $HTTP_HOST")
    if [[ $LOAD == loadgen ]]; then
        run_loadgen_http "$1" "$2" "$3" "$url" "$HTTP_CONNS" "${hdr[@]}"
    else
        run_wrk_cmd "$1" "$2" "$3" "$HTTP_CONNS" "$url" --latency "${hdr[@]}"
    fi
}

# run_loadgen_hs PORT SECONDS OUTFILE: loadgen on the backend CPU, one thread, TLS_HS_CONNS
# connections, each request on a new connection with a full handshake (no resumption);
# its JSON summary goes to OUTFILE.json.
run_loadgen_hs() {
    local port=$1 secs=$2 out=$3
    rm -f "$out.json"
    run_client $((secs + 30)) "$out" "$LOADGEN" "https://127.0.0.1:$port$HTTP_PATH" --insecure --new-conn --no-resume \
        -c "$TLS_HS_CONNS" -t 1 --cpus "$BACKEND_CPU" -d "${secs}s" --json "$out.json" -q
    [[ $CLIENT_RC -eq 0 ]] || client_failed loadgen "$out"
    [[ -s $out.json ]] || bench_die "loadgen wrote no JSON summary: $(tail -n 20 "$out")"
}

# client_run KIND PORT SECONDS OUTFILE: the client of a run of KIND (l4, http, hs).
client_run() {
    case $1 in
        l4) run_wrk "$2" "$3" "$4" ;;
        http) run_wrk_http "$2" "$3" "$4" ;;
        hs) run_loadgen_hs "$2" "$3" "$4" ;;
        *) bench_die "client_run: unknown kind $1" ;;
    esac
}

# ---------------------------------------------------------------- measuring

# The port a target listens on (direct: the backend nginx itself).
target_port() {
    case $1 in
        direct) echo "$NGINX_PORT" ;;
        haproxy*) echo "$HAPROXY_PORT" ;;
        nginx) echo "$NGINXP_PORT" ;;
        spillway*) echo "${SPW_PORT[$1]}" ;;
    esac
}

# The process that does a proxy's work (sampled for threads, fds, RSS; checked alive):
# for the nginx proxy its worker; none for direct.
target_pid() {
    case $1 in
        direct) echo "" ;;
        haproxy*) echo "$HAPROXY_PID" ;;
        nginx) echo "$NGINXP_WORKER" ;;
        spillway*) echo "${SPW_PID[$1]}" ;;
    esac
}

# The processes whose CPU time is the proxy's: for the nginx proxy master and worker.
proxy_cpu_pids() {
    case $1 in
        direct) echo "" ;;
        haproxy*) echo "$HAPROXY_PID" ;;
        nginx) echo "${NGINXP_PIDS[*]}" ;;
        spillway*) echo "${SPW_PID[$1]}" ;;
    esac
}

# proc_stat_lines PID...: the /proc/PID/stat line of each PID that still runs (read with
# builtins: no process is started for it).
proc_stat_lines() {
    local pid line
    for pid in "$@"; do
        if read -r line 2>/dev/null <"/proc/$pid/stat"; then printf '%s\n' "$line"; fi
    done
    return 0
}

# snapshot FILE PID...: the raw counters at a run's start (FILE ends in /before) or end: every
# CPU's ticks (/proc/stat) in FILE.cpu, the backend nginx's processes' /proc/PID/stat in
# FILE.nginx and the proxy's (PID...) in FILE.proxy. The CPUs are read last at the start and
# first at the end, so that their window holds the processes'.
snapshot() {
    local file=$1
    local -a cpu_lines
    shift
    if [[ $file == */before ]]; then
        proc_stat_lines "$@" >"$file.proxy"
        proc_stat_lines "${NGINX_PIDS[@]}" >"$file.nginx"
    fi
    mapfile -t cpu_lines </proc/stat
    printf '%s\n' "${cpu_lines[@]}" >"$file.cpu"
    if [[ $file != */before ]]; then
        proc_stat_lines "${NGINX_PIDS[@]}" >"$file.nginx"
        proc_stat_lines "$@" >"$file.proxy"
    fi
}

# nginx_status: the backend nginx's stub_status page (accepted connections, handled requests;
# the request for it adds one of each); empty when it does not answer.
nginx_status() { curl -s --max-time 5 "http://127.0.0.1:$NGINX_STATUS_PORT/status" || true; }

# A proxy must still be alive: else stop with its log (spillway) and how to reproduce.
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

# measure KIND TARGET ROUND: one measured run through TARGET, one CSV row. KIND l4: mode l4's
# downloads ($CSV); http: the small GETs of modes l7, churn and tls keep-alive ($CSV); hs: the
# tls handshakes ($HS_CSV). The proxy's threads (and, but in l4, the rustc processes) are
# sampled during the run; the raw counters before and after it go to the run's directory, where
# `bench_py record` reads them and writes the row and the log lines.
measure() {
    local kind=$1 target=$2 round=$3 port ppid dir csv=$CSV what="" pid
    [[ $kind == hs ]] && csv=$HS_CSV what="handshake "
    port=$(target_port "$target")
    ppid=$(target_pid "$target")
    dir=$BENCH_TMP/run-$kind-$target-$round
    mkdir -p "$dir"
    local -a ppids samplers=()
    read -r -a ppids <<<"$(proxy_cpu_pids "$target")"
    if [[ $kind != l4 ]]; then
        : >"$dir/rustc.txt"
        bench_compiler_sampler "$dir/rustc.txt" "$dir/stop" $((SECONDS_PER_RUN + 40)) &
        samplers+=("$!")
        bench_track "$!"
    fi
    if [[ -n $ppid ]]; then
        check_proxy_alive "$target" "$ppid" "before ${what}round $round"
        : >"$dir/threads.txt"
        bench_thread_sampler "$ppid" "$dir/threads.txt" "$dir/stop" $((SECONDS_PER_RUN + 40)) &
        samplers+=("$!")
        bench_track "$!"
    fi
    # HAProxy's own count of TLS connections (and its session reuse over the last second)
    if [[ $kind == hs && $target == haproxy ]]; then haproxy_info >"$dir/haproxy-before.txt"; fi
    if [[ $kind != l4 ]]; then nginx_status >"$dir/status-before.txt"; fi
    snapshot "$dir/before" "${ppids[@]}"

    client_run "$kind" "$port" "$SECONDS_PER_RUN" "$dir/client.out"

    snapshot "$dir/after" "${ppids[@]}"
    if [[ $kind == hs && $target == haproxy ]]; then haproxy_info >"$dir/haproxy-after.txt"; fi
    touch "$dir/stop"
    for pid in "${samplers[@]}"; do
        wait "$pid" 2>/dev/null || true
        bench_stop_pid "$pid"
    done
    [[ -z $ppid ]] || check_proxy_alive "$target" "$ppid" "during ${what}round $round"
    if [[ $kind != l4 ]]; then
        # backend connections still open after the run (the proxy's pool; the client's for direct)
        ss -Htn state established "( dport = :$NGINX_PORT )" >"$dir/backend-estab.txt" 2>/dev/null || true
        nginx_status >"$dir/status-after.txt"
    fi
    bench_py_ctx record "$kind" --dir "$dir" --csv "$csv" --target "$target" --round "$round" \
        --proxy-pid "$ppid" --driver "$(target_driver "$target")" ||
        bench_die "cannot make the CSV row of $target round $round from $dir"
}

# run_rounds KIND...: the unrecorded warm-up ($WARMUP s per target and KIND), then $RUNS
# rounds; in each round, for each KIND in turn, every target once (measure), alternated so
# that background noise hits them alike.
run_rounds() {
    local -a kinds=("$@")
    local t r k parts=""
    [[ $MODE == tls ]] && parts=" and part ($TLS_PARTS)"
    if [[ $WARMUP -gt 0 ]]; then
        bench_log "warm-up: ${WARMUP}s per target$parts"
        for t in "${TARGET_LIST[@]}"; do
            for k in "${kinds[@]}"; do
                client_run "$k" "$(target_port "$t")" "$WARMUP" "$BENCH_TMP/warmup-$k-$t.out"
            done
        done
    fi
    if [[ $MODE == tls ]]; then
        bench_log "measuring: $RUNS rounds × ($TLS_PARTS) × ${SECONDS_PER_RUN}s × (${TARGET_LIST[*]})"
    else
        bench_log "measuring: $RUNS rounds × ${SECONDS_PER_RUN}s × (${TARGET_LIST[*]})"
    fi
    for ((r = 1; r <= RUNS; r++)); do
        for k in "${kinds[@]}"; do
            for t in "${TARGET_LIST[@]}"; do
                wait_quiet "$SETTLE"
                measure "$k" "$t" "$r"
            done
        done
    done
}

# results_csv KIND: the results dir (RESULTS), the time stamp of this invocation's files
# (STAMP), and $CSV = RESULTS/MODE-STAMP.csv with the header of runs of KIND; MD is the summary.
results_csv() {
    RESULTS=${RESULTS_DIR:-$ROOT/target/bench-results}
    mkdir -p "$RESULTS"
    STAMP=$(date +%Y%m%d-%H%M%S)
    CSV=$RESULTS/$MODE-$STAMP.csv
    MD=$RESULTS/$MODE-$STAMP.md
    bench_py csv-header "$1" "$CSV"
}

# write_summary WHAT [ARGS...]: the summary $MD: the head the mode wrote to $MD.head, then the
# tables of `bench_py report WHAT`; shown on stdout.
write_summary() {
    local what=$1
    shift
    bench_py_ctx report "$what" --csv "$CSV" --head "$MD.head" --out "$MD" "$@" ||
        bench_die "could not write the summary $MD"
    rm -f "$MD.head"
    echo
    cat "$MD"
    echo
}

# load_average: the 1, 5 and 15 min load averages.
load_average() {
    local a b c
    read -r a b c _ </proc/loadavg
    echo "$a $b $c"
}

# ---------------------------------------------------------------- mode l4

FILE_SIZE=$((16 * 1024 * 1024))

# One GET through PORT must return 200 and exactly SIZE bytes.
check_download() {
    local name=$1 port=$2 size=$3 out
    out=$(curl -s --max-time 20 -o /dev/null -w '%{http_code} %{size_download}' \
        "http://127.0.0.1:$port/16m.bin") || true
    [[ $out == "200 $size" ]] || bench_die "$name: GET /16m.bin via port $port gave '$out', wanted '200 $size'"
}

mode_l4() {
    need nginx haproxy taskset ss curl awk pgrep timeout python3
    has_target nginx && need_nginx_stream
    check_cpus
    BENCH_TMP=$(mktemp -d /tmp/spillway-bench.XXXXXX)
    BODY_SIZE=$FILE_SIZE
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

    results_csv l4
    LOAD_BEFORE=$(load_average)
    run_rounds l4
    {
        echo "# spillway bench: l4 (16 MiB downloads), $(date -u '+%Y-%m-%d %H:%M UTC')"
        echo
        echo "command: bench/compare.sh l4 --runs $RUNS --seconds $SECONDS_PER_RUN --warmup $WARMUP --settle $SETTLE --load $LOAD --haproxy-splice $HAPROXY_SPLICE --targets $TARGETS"
        echo "kernel: $(uname -r); CPUs: $(nproc --all); nginx $(nginx_version); $(client_version)"
        has_target haproxy && echo "haproxy: $HAPROXY_VERSION (splice: $HAPROXY_SPLICE, maxconn $HAPROXY_MAXCONN)"
        has_target nginx && echo "nginx proxy: stream module ($NGINX_STREAM_MODULE), worker_processes 1, proxy_pass to the backend, defaults otherwise (proxy_buffer_size 16k); copies through user space, no splice"
        spillway_versions
        echo "load average before/after: $LOAD_BEFORE / $(load_average)"
        echo
    } >"$MD.head"
    write_summary l4
    bench_log "raw CSV: $CSV"
    bench_log "summary: $MD"
}

# ---------------------------------------------------------------- modes l7 and churn

# The small GET of modes l7 and churn (100 bytes, like an API answer), by HTTP_CONNS
# connections of the client; HTTP_HOST, when set (mode rules), is sent as the Host header.
HTTP_PATH=/small.txt
HTTP_HOST=""
HTTP_BODY_SIZE=100
HTTP_CONNS=64
# the body size of every response (mode l4: FILE_SIZE)
BODY_SIZE=$HTTP_BODY_SIZE

# The scheme of modes l7 and churn; mode tls sets https (and WRK_OPENSSL_CONF, the OpenSSL
# configuration that fixes the cipher wrk offers).
HTTP_SCHEME=http
WRK_OPENSSL_CONF=""

# One GET through PORT must return 200 and exactly HTTP_BODY_SIZE bytes (over TLS
# with the self-signed bench certificate when PORT is the tls mode's).
check_small_get() {
    local name=$1 port=$2 out scheme=http hdr=()
    [[ $name != direct ]] && scheme=$HTTP_SCHEME
    [[ -n $HTTP_HOST ]] && hdr=(-H "Host: $HTTP_HOST")
    out=$(curl -sk --max-time 10 "${hdr[@]}" -o /dev/null -w '%{http_code} %{size_download}' \
        "$scheme://127.0.0.1:$port$HTTP_PATH") || true
    [[ $out == "200 $HTTP_BODY_SIZE" ]] || bench_die "$name: GET $HTTP_PATH${HTTP_HOST:+ (Host: $HTTP_HOST)} via port $port gave '$out', wanted '200 $HTTP_BODY_SIZE'"
}

# http_prepare: what modes l7, churn, tls and rules share before the proxies start: the temp
# dir, a private copy of spillway, the 100-byte file (at HTTP_PATH), wrk's report script, the
# backend nginx.
http_prepare() {
    need nginx haproxy taskset ss curl awk pgrep timeout python3
    check_cpus
    BENCH_TMP=$(mktemp -d /tmp/spillway-bench.XXXXXX)
    need_load
    has_spillway && copy_spillway
    mkdir -p "$(dirname "$BENCH_TMP/nginx/www$HTTP_PATH")"
    head -c "$HTTP_BODY_SIZE" /dev/urandom | base64 -w0 | head -c "$HTTP_BODY_SIZE" >"$BENCH_TMP/nginx/www$HTTP_PATH"
    write_wrk_lua

    start_nginx
    check_small_get direct "$NGINX_PORT"
    [[ -n $(nginx_status) ]] || bench_die "nginx stub_status on $NGINX_STATUS_PORT does not answer"
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

# http_versions: the versions and settings lines of a summary's head.
http_versions() {
    echo "kernel: $(uname -r); CPUs: $(nproc --all); nginx $(nginx_version); client: $(client_version)"
    has_target haproxy && echo "haproxy: $HAPROXY_VERSION (mode http, http-reuse always, maxconn $HAPROXY_MAXCONN$([[ $MODE == tls ]] && echo ", $(haproxy_openssl)"))"
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

# Modes l7 and churn: the client's small GETs through each target, alternated within each round.
mode_http() {
    http_prepare
    http_start_proxies
    results_csv http
    LOAD_BEFORE=$(load_average)
    run_rounds http
    local what="keep-alive"
    [[ $MODE == churn ]] && what="Connection: close on every request"
    {
        echo "# spillway bench: $MODE ($LOAD -t1 -c$HTTP_CONNS, GET of $HTTP_BODY_SIZE bytes, $what), $(date -u '+%Y-%m-%d %H:%M UTC')"
        echo
        echo "command: bench/compare.sh $MODE --runs $RUNS --seconds $SECONDS_PER_RUN --warmup $WARMUP --settle $SETTLE --load $LOAD --targets $TARGETS"
        http_versions
        echo "load average before/after: $LOAD_BEFORE / $(load_average)"
        echo
    } >"$MD.head"
    http_keep_spillway_log "$STAMP"
    write_summary http
    bench_log "raw CSV: $CSV"
    bench_log "summary: $MD"
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

# tls_negotiated PORT CONF [S_CLIENT ARGS...]: "protocol cipher group" that openssl s_client
# (with OPENSSL_CONF=CONF unless CONF is empty) negotiates with 127.0.0.1:PORT.
tls_negotiated() {
    local port=$1 conf=$2 envs=()
    shift 2
    [[ -n $conf ]] && envs=("OPENSSL_CONF=$conf")
    { env "${envs[@]}" timeout 10 openssl s_client -connect "127.0.0.1:$port" -servername localhost "$@" </dev/null 2>/dev/null || true; } |
        bench_py s-client
}

# tls_check_ciphers: what each proxy negotiates with the keep-alive client's offer (wrk's or
# loadgen's) and with loadgen's (handshake runs), into $BENCH_TMP/negotiated.csv (for the
# summary); a warning when the proxies differ.
tls_check_ciphers() {
    local t port ka hs same=1 first=""
    NEGOTIATED=$BENCH_TMP/negotiated.csv
    echo "target,keepalive,handshakes" >"$NEGOTIATED"
    for t in "${TARGET_LIST[@]}"; do
        port=$(target_port "$t")
        if [[ $LOAD == wrk ]]; then
            ka=$(tls_negotiated "$port" "$WRK_OPENSSL_CONF")
        else
            # loadgen's keep-alive runs offer what its handshake runs do
            ka=$(tls_negotiated "$port" "" -ciphersuites "$RUSTLS_SUITES" -groups "$RUSTLS_GROUPS")
        fi
        hs=$(tls_negotiated "$port" "" -ciphersuites "$RUSTLS_SUITES" -groups "$RUSTLS_GROUPS")
        bench_log "$t negotiates: keep-alive runs ($LOAD's offer) $ka; handshake runs (loadgen's) $hs"
        [[ $ka == *'?'* || $hs == *'?'* ]] && bench_die "$t: no TLS handshake with openssl s_client on port $port"
        echo "$t,$ka,$hs" >>"$NEGOTIATED"
        [[ -z $first || $first == "$ka,$hs" ]] || same=0
        first="$ka,$hs"
    done
    [[ $same == 1 ]] || bench_log "WARNING: the proxies do not all negotiate the same protocol, cipher and group"
}

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


# Mode tls: the proxies terminate TLS in front of the l7 backend; per round, keep-alive
# requests over TLS (wrk or loadgen) through every target, then new full handshakes (loadgen)
# through every target.
mode_tls() {
    need openssl python3
    http_prepare
    tls_make_cert
    copy_loadgen
    HTTP_SCHEME=https
    http_start_proxies
    tls_check_ciphers

    results_csv http
    HS_CSV=$RESULTS/tls-$STAMP-handshakes.csv
    bench_py csv-header hs "$HS_CSV"
    LOAD_BEFORE=$(load_average)
    local -a kinds=()
    [[ $TLS_PARTS == *keepalive* ]] && kinds+=(http)
    [[ $TLS_PARTS == *handshakes* ]] && kinds+=(hs)
    run_rounds "${kinds[@]}"
    {
        echo "# spillway bench: tls (HTTPS listeners in front of nginx, GET of $HTTP_BODY_SIZE bytes), $(date -u '+%Y-%m-%d %H:%M UTC')"
        echo
        echo "command: bench/compare.sh tls --runs $RUNS --seconds $SECONDS_PER_RUN --warmup $WARMUP --settle $SETTLE --load $LOAD --targets $TARGETS"
        http_versions
        echo "loadgen: $LOADGEN_SRC (sha256 $LOADGEN_SHA…), rustls 0.23 with ring"
        echo "certificate: ECDSA P-256 (prime256v1), self-signed, one PEM with the key ($TLS_PEM) for every proxy"
        echo "load average before/after: $LOAD_BEFORE / $(load_average)"
        echo
    } >"$MD.head"
    http_keep_spillway_log "$STAMP"
    write_summary tls --hs-csv "$HS_CSV" --negotiated "$NEGOTIATED" --parts "$TLS_PARTS" \
        --offer "$RUSTLS_SUITES; $RUSTLS_GROUPS"
    bench_log "raw CSV: $CSV (keep-alive), $HS_CSV (handshakes)"
    bench_log "summary: $MD"
}

# ---------------------------------------------------------------- mode idle

# idle_measure TARGET CONNS ROUND: a fresh proxy, one GET, its memory; CONNS idle keep-alive
# connections (each has done one GET), its memory again; then they close. The readings go to
# the run's directory, where `bench_py record idle` makes the CSV row and the log line.
idle_measure() {
    local target=$1 conns=$2 round=$3 ppid port dir
    case $target in
        haproxy) HAPROXY_MODE=http start_haproxy; ppid=$HAPROXY_PID; port=$HAPROXY_PORT ;;
        spillway) SPILLWAY_PROTOCOL=http start_spillway; ppid=$SPILLWAY_PID; port=$SPILLWAY_PORT ;;
    esac
    check_small_get "$target" "$port"
    sleep 1
    dir=$BENCH_TMP/idle-$target-$conns-$round
    mkdir -p "$dir"
    bench_py mem "$ppid" >"$dir/mem-before.txt" || bench_die "cannot read the memory of $target (pid $ppid)"
    local pid i
    timeout -k 5 $((IDLE_HOLD + 120)) python3 "$ROOT/bench/idle_conns.py" --port "$port" --conns "$conns" \
        --hold "$IDLE_HOLD" --ready "$dir/ready" --deadline 90 --concurrency "${IDLE_CONCURRENCY:-200}" \
        >"$dir/client.out" 2>&1 &
    pid=$!
    bench_track "$pid"
    for ((i = 0; i < 1000; i++)); do
        [[ -s $dir/ready ]] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    [[ -s $dir/ready ]] || bench_die "idle client gave no ready line: $(cat "$dir/client.out")"
    # Let the proxy settle (lazy frees, timers; spillway parks idle connections after 1 s and
    # then releases what their tasks held): at least 2 s, then until VmRSS has not changed for
    # two samples 0.5 s apart, at most 6 s in all (the client holds IDLE_HOLD, 8 s).
    sleep 2
    local prev=-1 same=0 rss
    for ((i = 0; i < 8 && same < 2; i++)); do
        read -r rss _ < <(bench_py mem "$ppid")
        if [[ $rss == "$prev" ]]; then same=$((same + 1)); else same=0; fi
        prev=$rss
        ((same < 2)) && sleep 0.5
    done
    check_proxy_alive "$target" "$ppid" "with $conns idle connections"
    bench_py mem "$ppid" >"$dir/mem-idle.txt" || bench_die "cannot read the memory of $target (pid $ppid)"
    ss -Htn state established "( sport = :$port )" >"$dir/client-estab.txt" 2>/dev/null || true
    ss -Htn state established "( dport = :$NGINX_PORT )" >"$dir/backend-estab.txt" 2>/dev/null || true
    local crc=0
    wait "$pid" || crc=$?
    echo "$crc" >"$dir/client.rc"
    bench_stop_pid "$pid"
    sleep 1
    check_proxy_alive "$target" "$ppid" "after $conns idle connections closed"
    bench_py mem "$ppid" >"$dir/mem-after.txt" || bench_die "cannot read the memory of $target (pid $ppid)"
    bench_py_ctx record idle --dir "$dir" --csv "$CSV" --target "$target" --round "$round" \
        --idle-conns "$conns" --driver "$(target_driver "$target")" ||
        bench_die "cannot make the CSV row of $target round $round from $dir"
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

    results_csv idle
    for ((r = 1; r <= RUNS; r++)); do
        for n in "${COUNT_LIST[@]}"; do
            for t in "${TARGET_LIST[@]}"; do
                [[ $t == direct ]] && continue
                idle_measure "$t" "$n" "$r"
            done
        done
    done
    {
        echo "# spillway bench: idle (RSS per idle keep-alive client connection), $(date -u '+%Y-%m-%d %H:%M UTC')"
        echo
        echo "command: IDLE_CONNS=$counts IDLE_HOLD=$IDLE_HOLD IDLE_CONCURRENCY=${IDLE_CONCURRENCY:-200} bench/compare.sh idle --runs $RUNS --targets $TARGETS"
        echo "kernel: $(uname -r); nginx $(nginx_version); haproxy $(haproxy_version) (mode http, maxconn ${HAPROXY_HTTP_MAXCONN:-12000})"
        spillway_versions
        echo
    } >"$MD.head"
    write_summary idle --counts "$counts"
    bench_log "raw CSV: $CSV"
    bench_log "summary: $MD"
}

# ---------------------------------------------------------------- mode rules

# Mode rules (issue 17, "Performance"): what listener rules cost per request. Targets, all on
# one HTTP keep-alive listener in front of the same backend nginx (bench/lib/spillbench/rules.py
# writes the configurations):
#   spillway              (a) no rules: mode l7's configuration
#   spillway-rules        (b) RULES_N [[listener.rule]] (host_header hI.example + path_pattern
#                         /pI/*, each forwarding to its own group)
#   haproxy-rules         (c) HAProxy with the same acl pairs and use_backend lines
#   spillway-haproxy-cfg  (d) spillway started on (c)'s very haproxy.cfg (the drop-in case)
#   haproxy               (optional, not by default) HAProxy without rules, mode l7's
# The request (Host hN.example, GET /pN/x) matches only the last rule. Every rule's group is the
# backend nginx; the default group of (b), (c), (d) is nginx's 421 server, so a request the
# rules do not route counts as a non-2xx answer.

# RULES_N: the number of rules (1 to 100).
RULES_N=${RULES_N:-20}

# rules_write_configs: the configurations of the rules' targets in $BENCH_TMP/rules: rules.toml
# (spillway-rules) and haproxy.cfg (haproxy-rules and spillway-haproxy-cfg, which therefore never
# run at the same time: they bind the same port). Sets RULES_DIR, RULES_CFG, RULES_PORT,
# RULES_STATS_PORT and SPW_CONF/SPW_PORT of the two spillway targets.
rules_write_configs() {
    local hard maxconn=12000 toml_port
    RULES_DIR=$BENCH_TMP/rules
    mkdir -p "$RULES_DIR"
    # spillway reads haproxy.cfg too, and knows no `no strict-limits`: a maxconn whose fds
    # (2 per connection) fit under the hard RLIMIT_NOFILE instead, as HAProxy wants them all
    hard=$(ulimit -Hn)
    ulimit -n "$hard" 2>/dev/null || true
    [[ $hard != unlimited && $hard -lt 24100 ]] && maxconn=$(((hard - 200) / 2))
    RULES_HAPROXY_MAXCONN=$maxconn
    RULES_PORT=$(bench_free_port)
    RULES_STATS_PORT=$(bench_free_port)
    RULES_CFG=$RULES_DIR/haproxy.cfg
    bench_py rules-config haproxy --rules "$RULES_N" --port "$RULES_PORT" --admin-port "$RULES_STATS_PORT" \
        --backend "127.0.0.1:$NGINX_PORT" --miss "127.0.0.1:$NGINX_MISS_PORT" --proxy-cpu "$PROXY_CPU" \
        --maxconn "$maxconn" >"$RULES_CFG" || bench_die "cannot write $RULES_CFG"
    toml_port=$(bench_free_port)
    bench_py rules-config toml --rules "$RULES_N" --port "$toml_port" --admin-port "$(bench_free_port)" \
        --backend "127.0.0.1:$NGINX_PORT" --miss "127.0.0.1:$NGINX_MISS_PORT" \
        --runtime-extra "${SPILLWAY_RUNTIME_EXTRA:-}" --group-extra "${SPILLWAY_GROUP_EXTRA:-}" \
        >"$RULES_DIR/rules.toml" || bench_die "cannot write $RULES_DIR/rules.toml"
    SPW_CONF[spillway-rules]=$RULES_DIR/rules.toml SPW_PORT[spillway-rules]=$toml_port
    SPW_CONF[spillway-haproxy-cfg]=$RULES_CFG SPW_PORT[spillway-haproxy-cfg]=$RULES_PORT
    haproxy -q -c -f "$RULES_CFG" >"$RULES_DIR/haproxy-check.log" 2>&1 ||
        bench_die "haproxy rejects $RULES_CFG: $(cat "$RULES_DIR/haproxy-check.log")"
    if has_spillway; then
        "$BENCH_TMP/spillway/spillway" -c -f "$RULES_CFG" >"$RULES_DIR/spillway-check-cfg.log" 2>&1 ||
            bench_die "spillway rejects $RULES_CFG: $(cat "$RULES_DIR/spillway-check-cfg.log")"
        "$BENCH_TMP/spillway/spillway" -c -f "$RULES_DIR/rules.toml" >"$RULES_DIR/spillway-check-toml.log" 2>&1 ||
            bench_die "spillway rejects $RULES_DIR/rules.toml: $(cat "$RULES_DIR/spillway-check-toml.log")"
    fi
    bench_log "rules: $RULES_N host+path rules; $RULES_DIR/rules.toml, $RULES_CFG (frontend 127.0.0.1:$RULES_PORT, stats/admin 127.0.0.1:$RULES_STATS_PORT, maxconn $maxconn)"
}

# rules_start TARGET: starts TARGET (one of the mode's) on the proxy CPU.
rules_start() {
    case $1 in
        haproxy) HAPROXY_MODE=http start_haproxy ;;
        haproxy-rules)
            HAPROXY_PORT=$RULES_PORT HAPROXY_MAXCONN=$RULES_HAPROXY_MAXCONN
            launch_haproxy "$RULES_DIR" " (mode http, $RULES_N acl pairs + use_backend, maxconn $RULES_HAPROXY_MAXCONN)" ;;
        spillway) SPILLWAY_PROTOCOL=http start_spillway spillway ;;
        spillway-rules | spillway-haproxy-cfg) start_spillway "$1" ;;
        *) bench_die "rules_start: unknown target $1" ;;
    esac
}

# rules_stop TARGET: stops what rules_start started (and waits for it to go).
rules_stop() {
    local pid
    pid=$(target_pid "$1")
    [[ -n $pid ]] && bench_stop_pid "$pid"
    return 0
}

# rules_status PORT HOST PATH: "STATUS BYTES" of one GET of PATH with Host HOST through PORT.
rules_status() {
    curl -s --max-time 10 -H "Host: $2" -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:$1$3" || true
}

# rules_check TARGET: the measured request must get the 100-byte file through TARGET; through
# the rules' targets, a request that fails only the last rule's host, or only its path, must get
# the default's 421 (the rules are evaluated, not bypassed).
rules_check() {
    local t=$1 port out h p
    port=$(target_port "$t")
    check_small_get "$t" "$port"
    [[ $t == spillway || $t == haproxy ]] && return 0
    for h in "h$((RULES_N + 1)).example" "$HTTP_HOST"; do
        p=$HTTP_PATH
        [[ $h == "$HTTP_HOST" ]] && p=/p$((RULES_N + 1))/x
        out=$(rules_status "$port" "$h" "$p")
        [[ $out == 421* ]] || bench_die "$t: GET $p (Host: $h) matches no rule and should get the default's 421, got '$out'"
    done
}

# rules_keep_configs STAMP: the configurations next to the results.
rules_keep_configs() {
    cp "$RULES_CFG" "$RESULTS/rules-$1.haproxy.cfg"
    cp "$RULES_DIR/rules.toml" "$RESULTS/rules-$1.toml"
}

mode_rules() {
    read -r HTTP_HOST HTTP_PATH < <(PYTHONPATH="$ROOT/bench/lib" python3 -m spillbench rules-request --rules "$RULES_N") ||
        bench_die "RULES_N=$RULES_N: the number of rules must be 1 to 100"
    [[ -n $HTTP_PATH ]] || bench_die "RULES_N=$RULES_N: the number of rules must be 1 to 100"
    NGINX_MISS=1 http_prepare
    rules_write_configs
    results_csv http
    LOAD_BEFORE=$(load_average)
    local r t port
    bench_log "measuring: $RUNS rounds × ${SECONDS_PER_RUN}s × (${TARGET_LIST[*]}), each run on a fresh proxy with ${WARMUP}s warm-up; GET $HTTP_PATH, Host: $HTTP_HOST"
    for ((r = 1; r <= RUNS; r++)); do
        for t in "${TARGET_LIST[@]}"; do
            rules_start "$t"
            rules_check "$t"
            port=$(target_port "$t")
            [[ $WARMUP -gt 0 ]] && client_run http "$port" "$WARMUP" "$BENCH_TMP/warmup-$t-$r.out"
            wait_quiet "$SETTLE"
            measure http "$t" "$r"
            rules_stop "$t"
        done
    done
    {
        echo "# spillway bench: rules ($RULES_N host+path rules, the request matches the last; $LOAD -t1 -c$HTTP_CONNS keep-alive, GET of $HTTP_BODY_SIZE bytes), $(date -u '+%Y-%m-%d %H:%M UTC')"
        echo
        echo "command: RULES_N=$RULES_N bench/compare.sh rules --runs $RUNS --seconds $SECONDS_PER_RUN --warmup $WARMUP --settle $SETTLE --load $LOAD --targets $TARGETS"
        echo "kernel: $(uname -r); CPUs: $(nproc --all); nginx $(nginx_version); client: $(client_version)"
        echo "request: GET $HTTP_PATH, Host: $HTTP_HOST"
        echo "haproxy: $(haproxy_version) (mode http, http-reuse always, maxconn $RULES_HAPROXY_MAXCONN for haproxy-rules); configurations: rules-$STAMP.haproxy.cfg (haproxy-rules, spillway-haproxy-cfg), rules-$STAMP.toml (spillway-rules)"
        spillway_versions
        echo "load average before/after: $LOAD_BEFORE / $(load_average)"
        echo
    } >"$MD.head"
    rules_keep_configs "$STAMP"
    http_keep_spillway_log "$STAMP"
    write_summary rules --rules "$RULES_N" --json "$RESULTS/rules-$STAMP.json"
    bench_log "raw CSV: $CSV"
    bench_log "summary: $MD, JSON: $RESULTS/rules-$STAMP.json"
}

# ---------------------------------------------------------------- modes all and drivers

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

# run_submode DIR MODE ARGS...: `compare.sh MODE ARGS...` as its own invocation (own temp dir,
# processes and cleanup) writing its results into DIR, its output into DIR/MODE.log and its
# progress lines onto our stderr while it runs; returns its exit status.
run_submode() {
    local dir=$1 m=$2 pid rc=0
    shift 2
    RESULTS_DIR=$dir "$ROOT/bench/compare.sh" "$m" "$@" >"$dir/$m.log" 2>&1 &
    pid=$!
    bench_track "$pid"
    tail -n +1 -f --pid="$pid" "$dir/$m.log" | grep --line-buffered '^\[bench ' >&2 &
    bench_track "$!"
    wait "$pid" || rc=$?
    bench_stop_pid "$pid"
    sleep 0.5
    return "$rc"
}

# batch_prepare NAME: what modes all and drivers do before their sub-modes run: check the
# tools, make the batch's results directory and build (or take SPILLWAY_BIN / LOADGEN_BIN) the
# binaries once, exported so that every sub-mode measures the same ones. Sets BATCH_STAMP,
# BATCH_RESULTS (RESULTS_DIR or target/bench-results) and BATCH_DIR (BATCH_RESULTS/NAME-STAMP).
batch_prepare() {
    need python3 nginx haproxy
    [[ $LOAD == wrk ]] && need wrk
    BATCH_STAMP=$(date +%Y%m%d-%H%M%S)
    BATCH_RESULTS=${RESULTS_DIR:-$ROOT/target/bench-results}
    BATCH_DIR=$BATCH_RESULTS/$1-$BATCH_STAMP
    mkdir -p "$BATCH_DIR"
    SPILLWAY_BIN=$(spillway_bin)
    LOADGEN_BIN=$(loadgen_bin)
    export SPILLWAY_BIN LOADGEN_BIN
}

# sha12 FILE: the first 12 hex digits of FILE's sha256.
sha12() {
    local s
    read -r s _ < <(sha256sum "$1")
    echo "${s:0:12}"
}

# Mode all: l7, churn, l4, tls and idle one after the other, each as its own invocation of
# this script (run_submode) with the same options, writing into RESULTS_DIR/all-STAMP/; then
# one combined table from their CSVs (bench/lib/all_summary.py). A mode that fails is
# reported as failed and the others still run; nothing is checked about the figures.
mode_all() {
    [[ ",$(all_targets l4)," == *",nginx,"* ]] && need_nginx_stream
    batch_prepare all
    local stamp=$BATCH_STAMP results=$BATCH_RESULTS dir=$BATCH_DIR t0 t1 m targets rc model wrkv=""
    export IDLE_CONNS=${IDLE_CONNS:-10000}
    local -a modes=(l7 churn l4 tls idle) opts=(--runs "$RUNS" --seconds "$SECONDS_PER_RUN" --warmup "$WARMUP"
        --settle "$SETTLE" --load "$LOAD" --haproxy-splice "$HAPROXY_SPLICE")
    local cmd="bench/compare.sh all ${opts[*]}"
    [[ -n $TARGETS_GIVEN ]] && cmd+=" --targets $TARGETS_GIVEN"
    [[ $IDLE_CONNS == 10000 ]] || cmd="IDLE_CONNS=$IDLE_CONNS $cmd"
    model=$(grep -m1 '^model name' /proc/cpuinfo) || true
    command -v wrk >/dev/null && read -r _ wrkv _ < <(wrk -v 2>&1)
    t0=$(date +%s)
    {
        echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
        echo "command=$cmd"
        echo "kernel=$(uname -r)"
        echo "cpus=$(nproc --all) × ${model#*: }"
        echo "haproxy=$(haproxy_version) ($(haproxy_openssl))"
        echo "nginx=$(nginx_version)"
        echo "wrk=$wrkv"
        echo "spillway=$("$SPILLWAY_BIN" --version 2>/dev/null | head -n 1) ($SPILLWAY_BIN, built $(date -u -r "$SPILLWAY_BIN" '+%Y-%m-%d %H:%M UTC'), sha256 $(sha12 "$SPILLWAY_BIN")…)"
        echo "loadgen=$("$LOADGEN_BIN" --version 2>/dev/null | head -n 1) ($LOADGEN_BIN, sha256 $(sha12 "$LOADGEN_BIN")…)"
        echo "load=$LOAD"
        echo "runs=$RUNS"
        echo "seconds=$SECONDS_PER_RUN"
        echo "idle_conns=$IDLE_CONNS"
        echo "load_before=$(load_average)"
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
        t1=$(date +%s)
        rc=0
        run_submode "$dir" "$m" "${opts[@]}" --targets "$targets" || rc=$?
        if [[ $rc -eq 0 ]]; then
            echo "$m ok $(($(date +%s) - t1))" >>"$dir/status.txt"
        else
            echo "$m failed $(($(date +%s) - t1)) exit $rc" >>"$dir/status.txt"
            failed+=("$m")
            bench_log "mode all: $m FAILED (exit $rc); see $dir/$m.log; going on with the others"
        fi
    done
    echo "elapsed_s=$(($(date +%s) - t0))" >>"$dir/head.env"
    echo "load_after=$(load_average)" >>"$dir/head.env"
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

# Mode drivers: l7 and churn with haproxy and spillway on each driver, alternated within every
# round: spillway (the default config: auto), spillway-io_uring and spillway-epoll. Each mode
# runs as its own invocation of this script (run_submode, as in mode all);
# bench/lib/drivers_summary.py writes one table of both, with the default config's CPU per
# request against HAProxy's.
mode_drivers() {
    batch_prepare drivers
    local stamp=$BATCH_STAMP results=$BATCH_RESULTS dir=$BATCH_DIR m rc targets=$TARGETS
    local -a opts=(--runs "$RUNS" --seconds "$SECONDS_PER_RUN" --warmup "$WARMUP" --settle "$SETTLE" --load "$LOAD")
    {
        echo "# spillway bench: drivers (l7 and churn, $LOAD -t1 -c64), $(date -u '+%Y-%m-%d %H:%M UTC')"
        echo
        echo "command: \`bench/compare.sh drivers ${opts[*]} --targets $targets\`"
        echo
        echo "- kernel $(uname -r); CPUs: $(nproc --all); proxy on CPU $PROXY_CPU, backend nginx and client on CPU $BACKEND_CPU"
        echo "- HAProxy $(haproxy_version) (mode http, http-reuse always); nginx $(nginx_version)"
        echo "- spillway $("$SPILLWAY_BIN" --version 2>/dev/null | head -n 1) (sha256 $(sha12 "$SPILLWAY_BIN")…), threads = 1; spillway: no driver key (auto); spillway-io_uring, spillway-epoll: that driver"
        echo "- $RUNS rounds × $SECONDS_PER_RUN s, targets alternated within each round; medians over the rounds"
    } >"$dir/head.md"
    local failed=()
    for m in l7 churn; do
        bench_log "mode drivers: $m ($targets) starts; log $dir/$m.log"
        rc=0
        run_submode "$dir" "$m" "${opts[@]}" --targets "$targets" || rc=$?
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
        rules) mode_rules ;;
        all) mode_all ;;
        *) bench_die "unknown mode '$MODE' (known: l4, l7, churn, tls, idle, drivers, rules, all)" ;;
    esac
}

main "$@"
