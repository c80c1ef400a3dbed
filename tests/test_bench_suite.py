"""A smoke run of ``benchmarks/suite.py``: two servers, one connection count."""

from __future__ import annotations

import json
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
    assert rows["ours"]["ratio"] == 1.0  # no seed server selected: ours is the baseline
    assert "| ours | 8 |" in done.stdout and "| minimal-uvloop | 8 |" in done.stdout
