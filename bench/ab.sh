#!/usr/bin/env bash
# A/B: the same compare.sh mode against two spillway binaries, alternating A, B, A, B, ...
#
# usage: bench/ab.sh MODE BIN_A BIN_B [--rounds N] [compare.sh options...]
#
# For changes whose cost is a few percent (a counter, a histogram on the request path), the
# noise between two compare.sh invocations is larger than the effect; alternating the binaries
# round by round and taking medians (and the median of the per-round ratios) is what makes such
# a difference visible. Each round runs `compare.sh MODE --targets spillway --runs 1` once per
# binary (a fresh nginx each time) and reads `proxy_us_per_req` and `rps` from its CSV.
#
# AB_ENV_A / AB_ENV_B: one environment assignment for the A or B runs only, e.g.
#   AB_ENV_B='SPILLWAY_GROUP_EXTRA=max_connections_per_target=100000' bench/ab.sh l7 BIN BIN
# compares one binary with and without a setting.
#
# Prints one line per run and, at the end, medians for A and B and the median B/A ratio.
# Results also go to target/bench-results/ab-MODE-STAMP.csv. Reports; checks nothing.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
[[ $# -ge 3 ]] || { sed -n '2,17p' "$0" >&2; exit 2; }
MODE=$1 A=$2 B=$3
shift 3
ROUNDS=5
EXTRA=()
while [[ $# -gt 0 ]]; do
    case $1 in
        --rounds) ROUNDS=${2:?}; shift 2 ;;
        *) EXTRA+=("$1"); shift ;;
    esac
done
[[ -x $A && -x $B ]] || { echo "both binaries must exist and be executable" >&2; exit 2; }

results=${RESULTS_DIR:-$ROOT/target/bench-results}
mkdir -p "$results"
OUT=$results/ab-$MODE-$(date -u +%Y%m%d-%H%M%S).csv
echo "round,binary,proxy_us_per_req,rps,p99_us" >"$OUT"
tmp=$(mktemp -d /tmp/spillway-ab.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

run_one() { # LABEL BIN ROUND
    local dir=$tmp/$1-$3 envs
    mkdir -p "$dir"
    if [[ $1 == A ]]; then envs=${AB_ENV_A:-}; else envs=${AB_ENV_B:-}; fi
    env ${envs:+"$envs"} SPILLWAY_BIN=$2 RESULTS_DIR=$dir "$ROOT/bench/compare.sh" "$MODE" --targets spillway --runs 1 "${EXTRA[@]}" \
        >"$dir/out.log" 2>&1 || { echo "compare.sh failed, see $dir/out.log" >&2; cat "$dir/out.log" >&2; exit 1; }
    local csv
    csv=$(ls "$dir"/*.csv | head -1)
    awk -F, -v label="$1" -v round="$3" 'NR == 1 {for (i = 1; i <= NF; i++) col[$i] = i; next}
        $col["target"] == "spillway" {print round "," label "," $col["proxy_us_per_req"] "," $col["rps"] "," $col["p99_us"]}' \
        "$csv" | tee -a "$OUT"
}

for r in $(seq 1 "$ROUNDS"); do
    if (( r % 2 )); then run_one A "$A" "$r"; run_one B "$B" "$r"; else run_one B "$B" "$r"; run_one A "$A" "$r"; fi
done

median() { sort -g | awk '{v[NR] = $1} END {if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
for label in A B; do
    cpu=$(awk -F, -v l=$label 'NR > 1 && $2 == l {print $3}' "$OUT" | median)
    rps=$(awk -F, -v l=$label 'NR > 1 && $2 == l {print $4}' "$OUT" | median)
    echo "$label: median CPU µs/request $cpu, median req/s $rps"
done
ratio=$(awk -F, 'NR > 1 {v[$1 "," $2] = $3; r[$1] = 1}
    END {for (k in r) if (v[k ",A"] > 0) print v[k ",B"] / v[k ",A"]}' "$OUT" | median)
echo "B/A CPU per request, median of per-round ratios: $ratio"
echo "raw: $OUT"
