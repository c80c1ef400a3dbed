"""``serve --workers N``: processes sharing one port, stopped together."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

from guessgame import Client
from storeutil import ServeProcess, stored_games


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()]


def test_two_workers_both_serve_and_stop_together_losing_nothing(tmp_path: Path) -> None:
    db, log = tmp_path / "games.sqlite3", tmp_path / "serve.log"
    server = ServeProcess(db, log, "--workers", "2")
    try:
        workers = children(server.proc.pid)
        assert len(workers) == 2
        finished: list[int] = []
        lock = threading.Lock()

        def player(index: int) -> None:
            # New connections: the kernel spreads them over both listeners.
            for game in range(5):
                with Client.connect(*server.address, timeout=10) as client:
                    secret = 1 + (index * 7 + game) % 100
                    with client.session(1, 100, secret):
                        for number in client.request_numbers(20):
                            client.report_outcome(number)
                    with lock:
                        finished.append(secret)

        threads = [threading.Thread(target=player, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(finished) == 40
    finally:
        status = server.stop(signal.SIGTERM)
    assert status == 0
    for pid in workers:  # both workers are gone, not orphaned
        assert (
            not os.path.exists(f"/proc/{pid}")
            or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
        )
    text = log.read_text()
    assert re.search(r"serving on 127\.0\.0\.1:\d+ \(2 workers", text)
    # Connection ids carry the worker's number: both workers played games.
    served_by = {int(m) for m in re.findall(r"conn (\d+)\.\d+ ", text)}
    assert served_by == {1, 2}
    games = stored_games(db)
    assert len(games) == 40
    assert all(g.outcome.value == "won" for g in games)
    assert "Traceback" not in text


def test_workers_on_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    db, log = tmp_path / "games.sqlite3", tmp_path / "serve.log"
    first = ServeProcess(db, log)
    try:
        port = str(first.address[1])
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "guessgame",
                "serve",
                "--port",
                port,
                "--workers",
                "2",
                "--no-db",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 2
        assert (
            done.stderr == f"guessgame: cannot listen on 127.0.0.1:{port}: address already in use\n"
        )
    finally:
        assert first.stop(signal.SIGTERM) == 0
