"""``serve --workers 1`` against ``--workers 2`` on this machine, side by side.

    .venv/bin/python benchmarks/workers.py --reps 3 --duration 5

Starts each server (SQLite store on, in a temporary directory), runs
``guessgame bench --json`` against it, stops it, alternating, and prints
the median games/s and round trips/s of each with the server's CPU use
(all its processes) per second of load.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from proctree import cpu_seconds


def run_once(workers: int, tmp: Path, args: argparse.Namespace) -> dict[str, float]:
    log = tmp / f"serve-{workers}.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "guessgame", "serve", "--port", "0", "--workers",
             str(workers), "--db", str(tmp / f"games-{workers}.sqlite3")],
            stdout=subprocess.DEVNULL, stderr=out,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while not (m := re.search(rb"serving on [^ ]+:(\d+)", log.read_bytes())):
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(log.read_text(errors="replace"))
                time.sleep(0.05)
            before = cpu_seconds(server.pid)
            bench = subprocess.run(
                [sys.executable, "-m", "guessgame", "bench", "--port", m.group(1).decode(),
                 "--connections", str(args.connections), "--duration", str(args.duration),
                 "--json"],
                capture_output=True, text=True, timeout=args.duration + 120,
            )  # fmt: skip
            result = json.loads(bench.stdout)
            cpu = cpu_seconds(server.pid) - before
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
    return {
        "games_per_s": result["games_per_s"],
        "round_trips_per_s": result["round_trips_per_s"],
        "errors": result["errors"],
        "server_cores": cpu / result["duration_s"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    runs: dict[int, list[dict[str, float]]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory(prefix="guessgame-workers-") as tmpdir:
        for rep in range(args.reps):
            for workers in (1, 2):
                print(f"rep {rep + 1}: --workers {workers} ...", file=sys.stderr, flush=True)
                runs[workers].append(run_once(workers, Path(tmpdir), args))
    print("| --workers | games/s | round trips/s | server cores busy | errors |")
    print("|---:|---:|---:|---:|---:|")
    for workers, rows in runs.items():
        med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        print(
            f"| {workers} | {med['games_per_s']:,.0f} | {med['round_trips_per_s']:,.0f} |"
            f" {med['server_cores']:.2f} | {sum(r['errors'] for r in rows):.0f} |"
        )


if __name__ == "__main__":
    main()
