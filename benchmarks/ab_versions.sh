#!/usr/bin/env bash
# Server CPU per round trip and throughput of two versions of guessgame side
# by side: the working tree and a git REF (checked out in a temporary
# worktree), `serve` under `bench`, alternating, for games of 1..100 and of
# 1..10^6. The server's CPU counts every process under it too (a store's
# writer process). Loopback only; every server it starts is stopped by PID.
#
#     benchmarks/ab_versions.sh REF [PORT]
#
# Environment: SERVE_ARGS (default --no-db; give --db to measure the store,
# a fresh file per run is made for it), CONNS (default 64), DURATION
# (default 5), REPS (default 3), RANGES (default "1 100;1 1000000").
set -euo pipefail
ref=${1:?usage: benchmarks/ab_versions.sh REF [PORT]}
port=${2:-3391}
serve_args=${SERVE_ARGS:---no-db}
conns=${CONNS:-64}
duration=${DURATION:-5}
reps=${REPS:-3}
ranges=${RANGES:-1 100;1 1000000}
root=$(cd "$(dirname "$0")/.." && pwd)
py=$root/.venv/bin/python
ticks=$(getconf CLK_TCK)
other=$(mktemp -d)
scratch=$(mktemp -d)
git -C "$root" worktree add -q --detach "$other" "$ref"
trap 'git -C "$root" worktree remove --force "$other"; rm -rf "$scratch"' EXIT

# utime + stime, in ticks, of a process and every process under it.
tree_ticks() {
  local pids=$1 all=$1 next child
  while [ -n "$pids" ]; do
    next=""
    for p in $pids; do
      for child in $(cat /proc/"$p"/task/*/children 2>/dev/null); do
        next="$next $child"
      done
    done
    all="$all $next"
    pids=$next
  done
  for p in $all; do awk '{print $14 + $15}' /proc/"$p"/stat 2>/dev/null; done | awk '{s += $1} END {print s}'
}

IFS=';' read -r -a range_list <<<"$ranges"
run=0
for range in "${range_list[@]}"; do
  set -- $range
  for rep in $(seq "$reps"); do
    for version in "$ref" working-tree; do
      src=$root/src
      [ "$version" = "$ref" ] && src=$other/src
      run=$((run + 1))
      args=${serve_args//--db/--db $scratch/games-$run.sqlite3}
      # shellcheck disable=SC2086
      PYTHONPATH=$src "$py" -m guessgame serve --port "$port" $args >/dev/null 2>&1 &
      server=$!
      sleep 1.5
      before=$(tree_ticks "$server")
      out=$("$py" -m guessgame bench --port "$port" -c "$conns" -d "$duration" --lower "$1" --upper "$2" --json)
      after=$(tree_ticks "$server")
      kill -TERM "$server"
      wait "$server" 2>/dev/null || true
      echo "$out" | "$py" -c "
import json, sys
d = json.load(sys.stdin)
cpu = ($after - $before) / $ticks * 1e6 / d['round_trips']
p99 = d['number_latency_ms']['p99']
print(f\"{'$version':>14} 1..$2 -c $conns run $rep: {d['round_trips_per_s']:>9,.0f} rt/s {d['games_per_s']:>7,.0f} games/s \"
      f\"errors {d['errors']}  server {cpu:.2f} us/rt  p99 {p99:.1f} ms\")"
    done
  done
done
