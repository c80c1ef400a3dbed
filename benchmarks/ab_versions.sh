#!/usr/bin/env bash
# Server CPU per round trip and throughput of two versions of guessgame side
# by side: the working tree and a git REF (checked out in a temporary
# worktree), `serve --no-db` under `bench -c 64 -d 5`, alternating, 3 runs
# each, for games of 1..100 and of 1..10^6. Loopback only; every server it
# starts is stopped by PID.
#
#     benchmarks/ab_versions.sh REF [PORT]
set -euo pipefail
ref=${1:?usage: benchmarks/ab_versions.sh REF [PORT]}
port=${2:-3391}
root=$(cd "$(dirname "$0")/.." && pwd)
py=$root/.venv/bin/python
ticks=$(getconf CLK_TCK)
other=$(mktemp -d)
git -C "$root" worktree add -q --detach "$other" "$ref"
trap 'git -C "$root" worktree remove --force "$other"' EXIT
for range in "1 100" "1 1000000"; do
  set -- $range
  for rep in 1 2 3; do
    for version in "$ref" working-tree; do
      src=$root/src
      [ "$version" = "$ref" ] && src=$other/src
      PYTHONPATH=$src "$py" -m guessgame serve --port "$port" --no-db >/dev/null 2>&1 &
      server=$!
      sleep 1.5
      before=$(awk '{print $14 + $15}' "/proc/$server/stat")
      out=$("$py" -m guessgame bench --port "$port" -c 64 -d 5 --lower "$1" --upper "$2" --json)
      after=$(awk '{print $14 + $15}' "/proc/$server/stat")
      kill -TERM "$server"
      wait "$server" 2>/dev/null || true
      echo "$out" | "$py" -c "
import json, sys
d = json.load(sys.stdin)
cpu = ($after - $before) / $ticks * 1e6 / d['round_trips']
print(f\"{'$version':>14} 1..$2 run $rep: {d['round_trips_per_s']:>9,.0f} rt/s {d['games_per_s']:>7,.0f} games/s \"
      f\"errors {d['errors']}  server {cpu:.2f} us/rt\")"
    done
  done
done
