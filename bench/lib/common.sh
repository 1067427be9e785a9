# shellcheck shell=bash
# Helpers shared by the bench/ scripts. Source it; do not run it.
#
# Process hygiene: every process a bench script starts is recorded with
# `bench_track PID` (together with its start time, so a recycled PID is never
# signalled) and stopped by `bench_cleanup`, which the scripts install as an
# EXIT trap. Nothing is ever stopped by name.

BENCH_PIDS=()       # "pid:starttime" of every process we started
BENCH_TMP=""        # temp dir of this invocation (removed by bench_cleanup)
BENCH_KEEP_TMP="${BENCH_KEEP_TMP:-0}"

bench_log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
bench_die() { bench_log "error: $*"; exit 1; }

# Field N (1-based, as in proc(5)) of /proc/PID/stat; the comm field may hold
# spaces and parentheses, so split after the last ')'.
bench_stat_field() {
    local pid=$1 n=$2 stat rest
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    rest=${stat##*) }
    local -a f
    read -r -a f <<<"$rest"
    # f[0] is field 3 (state)
    printf '%s\n' "${f[$((n - 3))]}"
}

bench_starttime() { bench_stat_field "$1" 22; }

bench_track() {
    local pid=$1 st
    st=$(bench_starttime "$pid" 2>/dev/null) || st=""
    BENCH_PIDS+=("$pid:$st")
}

# True if PID is alive and is still the process we recorded.
bench_is_ours() {
    local pid=${1%%:*} st=${1#*:} now
    kill -0 "$pid" 2>/dev/null || return 1
    now=$(bench_starttime "$pid" 2>/dev/null) || return 1
    [[ -z $st || $now == "$st" ]]
}

# Stop one tracked process (TERM, then KILL after ~5 s) and forget it.
bench_stop_pid() {
    local pid=$1 i entry keep=()
    for entry in "${BENCH_PIDS[@]}"; do
        if [[ ${entry%%:*} == "$pid" ]]; then
            if bench_is_ours "$entry"; then
                kill -TERM "$pid" 2>/dev/null || true
                for ((i = 0; i < 50; i++)); do
                    bench_is_ours "$entry" || break
                    sleep 0.1
                done
                if bench_is_ours "$entry"; then kill -KILL "$pid" 2>/dev/null || true; fi
            fi
            wait "$pid" 2>/dev/null || true
        else
            keep+=("$entry")
        fi
    done
    BENCH_PIDS=("${keep[@]}")
}

bench_cleanup() {
    local rc=$? i entry
    trap - EXIT INT TERM
    # newest first
    for ((i = ${#BENCH_PIDS[@]} - 1; i >= 0; i--)); do
        entry=${BENCH_PIDS[$i]}
        if bench_is_ours "$entry"; then kill -TERM "${entry%%:*}" 2>/dev/null || true; fi
    done
    for ((i = 0; i < 50; i++)); do
        local alive=0
        for entry in "${BENCH_PIDS[@]}"; do bench_is_ours "$entry" && alive=1; done
        ((alive)) || break
        sleep 0.1
    done
    for entry in "${BENCH_PIDS[@]}"; do
        if bench_is_ours "$entry"; then
            bench_log "pid ${entry%%:*} ignored SIGTERM; sending SIGKILL"
            kill -KILL "${entry%%:*}" 2>/dev/null || true
        fi
        wait "${entry%%:*}" 2>/dev/null || true
    done
    BENCH_PIDS=()
    if [[ -n $BENCH_TMP && -d $BENCH_TMP ]]; then
        # kept for a look after a failure; not after success or an interrupt
        if [[ $BENCH_KEEP_TMP == 1 || ($rc -ne 0 && $rc -ne 130 && $rc -ne 143) ]]; then
            bench_log "logs and configs kept in $BENCH_TMP"
        else
            rm -rf "$BENCH_TMP"
        fi
    fi
    exit "$rc"
}

bench_install_traps() {
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# A TCP port on 127.0.0.1 that nothing listens on (and that we have not handed
# out already in this invocation).
BENCH_PORTS_USED=" "
bench_free_port() {
    local port i listening
    listening=$(ss -Htan 2>/dev/null | awk '{print $4}' | sed 's/.*://' | sort -u | tr '\n' ' ')
    for ((i = 0; i < 200; i++)); do
        port=$((20000 + RANDOM % 30000))
        [[ " $listening " == *" $port "* ]] && continue
        [[ $BENCH_PORTS_USED == *" $port "* ]] && continue
        BENCH_PORTS_USED+="$port "
        echo "$port"
        return 0
    done
    bench_die "no free port found"
}

# Wait (at most TIMEOUT seconds) until 127.0.0.1:PORT accepts a connection;
# fail early if PID (optional) exits.
bench_wait_port() {
    local port=$1 timeout=${2:-10} pid=${3:-} i
    for ((i = 0; i < timeout * 10; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
        sleep 0.1
    done
    return 1
}

# Sample the threads of PID into OUT every 0.25 s until STOPFILE exists (or
# MAXSEC seconds pass). Each line: "<count> <comm,comm,...>". Run it in the
# background and track its PID.
bench_thread_sampler() {
    local pid=$1 out=$2 stopfile=$3 maxsec=$4 i n names
    for ((i = 0; i < maxsec * 4; i++)); do
        [[ -e $stopfile ]] && break
        [[ -d /proc/$pid/task ]] || break
        n=0
        names=""
        local t c
        for t in /proc/"$pid"/task/*; do
            read -r c <"$t/comm" 2>/dev/null || continue
            n=$((n + 1))
            names+="${c// /_},"
        done
        echo "$n ${names%,}" >>"$out"
        sleep 0.25
    done
}

# "busy total" clock ticks of one CPU from /proc/stat (busy = user + nice +
# system + irq + softirq + steal; total adds idle and iowait).
bench_cpu_busy() {
    awk -v c="cpu$1" '$1 == c {b = $2 + $3 + $4 + $7 + $8 + $9; print b, b + $5 + $6}' /proc/stat
}

# How many rustc processes run now (the other users of this machine compile; a
# run measured meanwhile is noise).
bench_compilers() { pgrep -c -x rustc 2>/dev/null || true; }

# Sample bench_compilers every 0.5 s into OUT (one count per line) until STOPFILE
# exists (or MAXSEC seconds pass). Run it in the background and track its PID.
bench_compiler_sampler() {
    local out=$1 stopfile=$2 maxsec=$3 i
    for ((i = 0; i < maxsec * 2; i++)); do
        [[ -e $stopfile ]] && break
        bench_compilers >>"$out"
        sleep 0.5
    done
}

