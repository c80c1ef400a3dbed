"""A smoke run of ``benchmarks/suite.py``: two servers, one connection count."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_suite_runs_two_servers_side_by_side(tmp_path: Path) -> None:
    out = tmp_path / "suite.json"
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "suite.py"),
            "--servers",
            "ours,minimal-uvloop",
            "--connections",
            "8",
            "--duration",
            "1",
            "--reps",
            "1",
            "--markdown",
            "--json-out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 30
    data = json.loads(out.read_text())
    rows = {row["server"]: row for row in data["summary"]}
    assert set(rows) == {"ours", "minimal-uvloop"}
    for row in rows.values():
        assert row["connections"] == 8 and row["reps"] == 1 and not row["failures"]
        assert row["errors"] == 0
        assert row["round_trips_per_s"] > 0 and row["games_per_s"] > 0
        assert row["server_rss_mib"] > 1
        assert row["server_cpu_us_per_round_trip"] > 0
    # The store's writer process is counted, apart too.
    assert rows["ours"]["children_cpu_us_per_round_trip"] > 0
    assert rows["minimal-uvloop"]["children_cpu_us_per_round_trip"] == 0
    # Each server's CPU against the minimal server's on the same loop.
    ours, minimal = rows["ours"], rows["minimal-uvloop"]
    expected = ours["server_cpu_us_per_round_trip"] / minimal["server_cpu_us_per_round_trip"]
    assert ours["cpu_ratio"] == pytest.approx(expected, rel=0.01)
    assert rows["ours"]["ratio"] == 1.0  # no seed server selected: ours is the baseline
    assert "| ours | 8 |" in done.stdout and "| minimal-uvloop | 8 |" in done.stdout


_TREE = """
import os, subprocess, sys, time
# A child, started from a thread other than the main one, that burns CPU.
import threading
procs = []
thread = threading.Thread(target=lambda: procs.append(subprocess.Popen(
    [sys.executable, "-c", "import time\\nend = time.process_time() + 0.6\\n"
     "while time.process_time() < end: pass\\ntime.sleep(60)"])))
thread.start()
thread.join()
print(procs[0].pid, flush=True)
time.sleep(60)
"""


def test_the_benchmarks_count_the_cpu_and_memory_of_every_process_under_a_server() -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import proctree
    finally:
        sys.path.pop(0)
    parent = subprocess.Popen([sys.executable, "-c", _TREE], stdout=subprocess.PIPE, text=True)
    child = None
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert proctree.process_tree(parent.pid) == [parent.pid, child]
        deadline = time.monotonic() + 30
        while proctree.own_cpu(child, reaped=False) < 0.5:
            assert time.monotonic() < deadline, "the child did not burn its CPU"
            time.sleep(0.05)
        own = proctree.own_cpu(parent.pid, reaped=False)
        assert proctree.cpu_seconds(parent.pid) >= own + 0.5
        rss = proctree.rss_mib(parent.pid)
        own_rss = proctree.own_rss(parent.pid)
        child_rss = proctree.own_rss(child)
        assert rss is not None and own_rss is not None and child_rss is not None
        assert rss == pytest.approx(own_rss + child_rss, abs=2.0)
    finally:
        parent.kill()
        parent.wait()
        if child is not None:
            os.kill(child, signal.SIGKILL)
