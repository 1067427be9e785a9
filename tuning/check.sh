#!/usr/bin/env bash
# Reads this host and prints, for each setting spillway cares about, the current value, the
# recommended one, whether it is met, and why it matters; then whether io_uring is usable.
# Changes nothing. usage: tuning/check.sh
set -uo pipefail

printf '%-34s %-22s %-22s %-5s %s\n' setting current recommended ok why
line() { # NAME CURRENT RECOMMENDED OK WHY
    printf '%-34s %-22s %-22s %-5s %s\n' "$1" "$2" "$3" "$4" "$5"
}
at_least() { # CURRENT MIN -> yes/no (numbers; "unlimited" passes)
    [[ $1 == unlimited ]] && { echo yes; return; }
    [[ $1 =~ ^[0-9]+$ ]] && (($1 >= $2)) && echo yes || echo no
}
sysctl_at_least() { # KEY MIN WHY
    local v
    v=$(cat "/proc/sys/${1//.//}" 2>/dev/null | awk '{print $1}')
    line "$1" "${v:-absent}" ">= $2" "$(at_least "${v:-0}" "$2")" "$3"
}

sysctl_at_least net.core.somaxconn 65535 "accept queue: clients wait there at max_connections"
sysctl_at_least net.ipv4.tcp_max_syn_backlog 65535 "half-open connections kept during bursts"
ports=$(cat /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null | awk '{print $2 - $1 + 1}')
line net.ipv4.ip_local_port_range "$(tr '\t' ' ' </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)" "1024 65535" \
    "$(at_least "${ports:-0}" 64000)" "source ports per target for backend connections"
tw=$(cat /proc/sys/net/ipv4/tcp_tw_reuse 2>/dev/null)
line net.ipv4.tcp_tw_reuse "${tw:-absent}" "1" "$([[ $tw == 1 ]] && echo yes || echo no)" "reuse TIME_WAIT ports for new backend connections"
sysctl_at_least net.core.rmem_max 16777216 "room for fast flows (autotuned below it)"
sysctl_at_least net.core.wmem_max 16777216 "room for fast flows (autotuned below it)"
sysctl_at_least net.core.netdev_max_backlog 16384 "packets queued when the stack is behind"
pipes=$(cat /proc/sys/fs/pipe-user-pages-soft 2>/dev/null)
line fs.pipe-user-pages-soft "${pipes:-absent}" "0 (no limit)" "$([[ $pipes == 0 || $(id -u) == 0 ]] && echo yes || echo no)" \
    "1 MiB splice pipes for an unprivileged user (root is exempt)"

nofile_soft=$(ulimit -Sn)
nofile_hard=$(ulimit -Hn)
line "nofile (soft/hard)" "$nofile_soft/$nofile_hard" ">= 6 x max_conn + 1000" "$(at_least "$nofile_hard" 601000)" \
    "spillway raises soft to hard; 601000 = default max_connections 100000 with TCP splice"
memlock=$(ulimit -l)
line "memlock (KiB)" "$memlock" "unlimited" "$([[ $memlock == unlimited ]] && echo yes || echo no)" \
    "io_uring rings on kernels < 5.12, glommio's buffers (loadgen)"

echo
echo "io_uring:"
kernel=$(uname -r)
major=${kernel%%.*}
minor=${kernel#*.}
minor=${minor%%.*}
echo "  kernel $kernel: $( ((major > 5 || (major == 5 && minor >= 6))) && echo "has io_uring with the operations spillway uses (5.6+)" || echo "older than 5.6: spillway will use epoll")"
if [[ -r /proc/sys/kernel/io_uring_disabled ]]; then
    case $(cat /proc/sys/kernel/io_uring_disabled) in
        0) echo "  kernel.io_uring_disabled = 0: io_uring allowed for every process" ;;
        1) echo "  kernel.io_uring_disabled = 1: only for members of kernel.io_uring_group (or root); others fall back to epoll" ;;
        2) echo "  kernel.io_uring_disabled = 2: io_uring disabled; spillway falls back to epoll (driver = \"auto\")" ;;
    esac
else
    echo "  kernel.io_uring_disabled: absent (kernel < 6.6): io_uring not switched off by sysctl"
fi
seccomp=$(awk '/^Seccomp:/ {print $2}' /proc/self/status)
case $seccomp in
    0) echo "  seccomp: off for this shell: io_uring_setup is not filtered here" ;;
    *) echo "  seccomp: mode $seccomp for this shell (a container?): io_uring_setup may be refused; spillway then falls back to epoll and says so" ;;
esac
if [[ $memlock != unlimited ]] && ((major < 5 || (major == 5 && minor < 12))); then
    echo "  memlock $memlock KiB on a kernel < 5.12: rings are charged to it; raise it (tuning/limits.conf)"
fi
