#!/usr/bin/env bash
# Spread a NIC's interrupt queues over the CPUs the shards do NOT run on, so that packet
# processing does not steal cycles from the pinned shards (and the shards' caches stay theirs).
#
# usage: tuning/irq-affinity.sh IFACE --shard-cpus LIST [--apply]
#   IFACE         the network interface (its queues are found in /proc/interrupts by name)
#   --shard-cpus  the CPUs spillway's shards are pinned to (as --cpus: 0,2-3)
#   --apply       write /proc/irq/N/smp_affinity_list (root); without it, only print (dry run)
#
# With every CPU given to shards there is nothing left to move the queues to: the script says so
# and changes nothing (then the usual advice is RSS with one queue per shard CPU instead).
set -euo pipefail

usage() { sed -n '2,12p' "$0" >&2; exit 2; }
[[ $# -ge 1 ]] || usage
IFACE=$1
shift
SHARDS=""
APPLY=0
while [[ $# -gt 0 ]]; do
    case $1 in
        --shard-cpus) SHARDS=${2:?}; shift 2 ;;
        --apply) APPLY=1; shift ;;
        *) usage ;;
    esac
done
[[ -n $SHARDS ]] || usage

expand() { # "0,2-3" -> "0 2 3"
    local part out=()
    IFS=, read -ra parts <<<"$1"
    for part in "${parts[@]}"; do
        if [[ $part == *-* ]]; then out+=($(seq "${part%-*}" "${part#*-}")); else out+=("$part"); fi
    done
    echo "${out[@]}"
}

online=$(expand "$(cat /sys/devices/system/cpu/online)")
shards=" $(expand "$SHARDS") "
free=()
for c in $online; do [[ $shards == *" $c "* ]] || free+=("$c"); done
if [[ ${#free[@]} -eq 0 ]]; then
    echo "every online CPU ($online) runs a shard: no CPU left for $IFACE's interrupts; nothing changed"
    exit 0
fi

irqs=$(awk -v ifc="$IFACE" '$0 ~ ifc {sub(":", "", $1); print $1}' /proc/interrupts)
if [[ -z $irqs ]]; then
    echo "no interrupt named after $IFACE in /proc/interrupts (virtio and some drivers name queues differently); nothing changed"
    exit 0
fi
i=0
for irq in $irqs; do
    cpu=${free[$((i % ${#free[@]}))]}
    i=$((i + 1))
    current=$(cat "/proc/irq/$irq/smp_affinity_list" 2>/dev/null || echo "?")
    if [[ $APPLY == 1 ]]; then
        echo "$cpu" >"/proc/irq/$irq/smp_affinity_list"
        echo "irq $irq: CPU $current -> $cpu"
    else
        echo "irq $irq: CPU $current -> $cpu (dry run; --apply to write)"
    fi
done
