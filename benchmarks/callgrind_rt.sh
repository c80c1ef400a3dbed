#!/usr/bin/env bash
# Instructions per round trip of benchmarks/replay.py MODE, counted by
# callgrind: repeatable whatever else the machine is doing. Replays the
# same reads once and three times; the difference over two replays' round
# trips is the cost of one round trip, start-up excluded.
#
#     benchmarks/callgrind_rt.sh [MODE] [replay.py options...]
#     PYTHONPATH=/other/checkout/src benchmarks/callgrind_rt.sh core   # another version
set -euo pipefail
mode=${1:-core}
shift || true
root=$(cd "$(dirname "$0")/.." && pwd)
py=$root/.venv/bin/python
# A fixed hash seed: dict and set layouts, and so the counts, repeat.
export PYTHONHASHSEED=0
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
total() {
  local reps=$1
  shift
  valgrind --tool=callgrind --callgrind-out-file="$out/cg.$reps" \
    "$py" "$root/benchmarks/replay.py" --mode "$mode" --reps "$reps" "$@" >"$out/log.$reps" 2>&1
  grep -o 'Collected : [0-9]*' "$out/log.$reps" | grep -o '[0-9]*$'
}
one=$(total 1 "$@")
three=$(total 3 "$@")
rts=$(grep -o '[0-9]* round trips' "$out/log.1" | grep -o '^[0-9]*')
echo "$mode: $(( (three - one) / (2 * rts) )) instructions per round trip ($rts round trips a replay)"
