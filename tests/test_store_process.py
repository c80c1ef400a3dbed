"""The store's writer process: it inserts what the server queues, is
replaced when it dies without losing or doubling a game, ignores the
signals meant for the server, and never outlives the server."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from guessgame.store.sqlite import SqliteStore
from storeutil import TIMEOUT, count_games, edge_records, make_record, stored_games


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet waited for, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return state != "Z"


def _wait_gone(pid: int) -> None:
    deadline = time.monotonic() + TIMEOUT
    while _alive(pid):
        assert time.monotonic() < deadline, f"process {pid} is still running"
        time.sleep(0.02)


@pytest.mark.parametrize("writer", ["process", "thread"])
def test_either_writer_stores_the_same_games(writer: str, tmp_path: Path) -> None:
    db = tmp_path / "games.sqlite3"
    records = edge_records()
    store = SqliteStore(db, writer=writer)
    pid = store.writer_pid
    if writer == "thread":
        assert pid is None
    else:
        assert pid is not None and pid != os.getpid() and _alive(pid)
    for record in records:
        store.record(record)
    store.close()
    assert (store.written, store.lost, store.dropped) == (4, 0, 0)
    assert stored_games(db) == records
    if pid is not None:
        _wait_gone(pid)


def test_a_writer_process_that_dies_is_replaced_and_nothing_is_lost_or_doubled(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "games.sqlite3"
    caplog.set_level(logging.INFO, logger="guessgame.store")
    store = SqliteStore(db)
    try:
        for i in range(100):
            store.record(make_record(lower=i, upper=i + 9))
        assert store.flush(TIMEOUT)
        first = store.writer_pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        _wait_gone(first)
        for i in range(100, 300):
            store.record(make_record(lower=i, upper=i + 9))
        assert store.flush(TIMEOUT)
        second = store.writer_pid
        assert second is not None and second != first
    finally:
        store.close()
    assert (store.written, store.lost, store.dropped) == (300, 0, 0)
    assert sorted(g.lower for g in stored_games(db)) == list(range(300))
    assert any("writer process exited" in r.getMessage() for r in caplog.records)


def test_the_writer_process_leaves_the_signals_to_the_server(tmp_path: Path) -> None:
    """Ctrl-C reaches the whole process group, a service manager's SIGTERM
    every process of the service: the server decides when its store ends."""
    db = tmp_path / "games.sqlite3"
    store = SqliteStore(db)
    try:
        pid = store.writer_pid
        assert pid is not None
        os.kill(pid, signal.SIGINT)
        os.kill(pid, signal.SIGTERM)
        time.sleep(0.2)
        assert _alive(pid) and store.writer_pid == pid
        store.record(make_record())
        assert store.flush(TIMEOUT)
    finally:
        store.close()
    assert count_games(db) == 1
    _wait_gone(pid)


_SERVER = """
import sys, time
from guessgame.store.sqlite import SqliteStore
from storeutil import make_record

store = SqliteStore(sys.argv[1])
print(store.writer_pid, flush=True)
while True:
    store.record(make_record())
    time.sleep(0.001)
"""


def test_the_writer_process_does_not_outlive_its_server(tmp_path: Path) -> None:
    db = tmp_path / "games.sqlite3"
    tests = Path(__file__).resolve().parent
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tests), *sys.path]))
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER, str(db)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert server.stdout is not None
        writer = int(server.stdout.readline())
        deadline = time.monotonic() + TIMEOUT
        while count_games(db) < 50:
            assert time.monotonic() < deadline, "the server recorded nothing"
            time.sleep(0.05)
    finally:
        server.kill()
        server.wait()
    _wait_gone(writer)
    # Nothing more is written once both are gone, and the file is sound.
    settled = count_games(db)
    time.sleep(0.3)
    assert count_games(db) == settled
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()


@contextlib.contextmanager
def write_lock(db: Path, mode: str = "IMMEDIATE") -> Iterator[Callable[[], None]]:
    """Another connection holds ``db``'s write lock (``BEGIN EXCLUSIVE`` also
    keeps a new connection from reading it) until the function it yields is
    called, or the block ends."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute(f"BEGIN {mode}")
    held = True

    def release() -> None:
        nonlocal held
        if held:
            conn.execute("ROLLBACK")
            held = False

    try:
        yield release
    finally:
        release()
        conn.close()


def _wait_taken(store: SqliteStore) -> None:
    deadline = time.monotonic() + TIMEOUT
    while store.pending:
        assert time.monotonic() < deadline, "the writer took nothing"
        time.sleep(0.02)


def test_a_writer_process_killed_with_a_batch_in_hand_loses_nothing(tmp_path: Path) -> None:
    """The process dies while the batch it was sent waits for the database's
    lock: the next process is sent the whole batch again."""
    db = tmp_path / "games.sqlite3"
    store = SqliteStore(db, busy_timeout=0.05)
    try:
        with write_lock(db) as release:
            for i in range(10):
                store.record(make_record(lower=i, upper=i + 9))
            _wait_taken(store)
            time.sleep(0.2)  # attempts under the lock, refused and retried
            first = store.writer_pid
            assert first is not None
            os.kill(first, signal.SIGKILL)
            _wait_gone(first)
            release()
            assert store.flush(TIMEOUT)
    finally:
        store.close()
    assert (store.written, store.lost, store.dropped) == (10, 0, 0)
    assert sorted(g.lower for g in stored_games(db)) == list(range(10))


def test_a_writer_process_that_cannot_start_again_is_retried_until_it_can(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The process dies while another holds the database's lock, so the next
    one cannot open the database: the writer keeps the batch and tries again
    until it can, and games recorded meanwhile wait."""
    db = tmp_path / "games.sqlite3"
    caplog.set_level(logging.INFO, logger="guessgame.store")
    store = SqliteStore(db, busy_timeout=0.05)
    try:
        first = store.writer_pid
        assert first is not None
        with write_lock(db, "EXCLUSIVE") as release:
            os.kill(first, signal.SIGKILL)
            _wait_gone(first)
            for i in range(20):
                store.record(make_record(lower=i, upper=i + 9))
            deadline = time.monotonic() + TIMEOUT
            while not any("writer process" in r.getMessage() for r in caplog.records):
                assert time.monotonic() < deadline, "no attempt while the database was locked"
                time.sleep(0.02)
            time.sleep(0.3)  # more attempts, each failing to open the database
            release()
            assert store.flush(TIMEOUT)
            assert store.writer_pid not in (None, first)
    finally:
        store.close()
    assert (store.written, store.lost, store.dropped) == (20, 0, 0)
    assert count_games(db) == 20
