"""Real server processes under load: SIGTERM loses no game, SIGKILL loses
at most the last second's and leaves a sound database; several processes
share one database file safely."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from guessgame.records import GameRecord, Outcome
from guessgame.server import Backend
from guessgame.store.sqlite import SqliteStore
from storeutil import (
    TIMEOUT,
    LoadClient,
    ServeProcess,
    count_games,
    run_cli,
    start_load,
    stored_games,
)

pytestmark = pytest.mark.slow

#: Seconds of load before the signal.
LOAD_SECONDS = 1.5
CLIENTS = 6


def _by_lower(games: list[GameRecord]) -> dict[int, GameRecord]:
    found = {g.lower: g for g in games}
    assert len(found) == len(games), "a game was recorded twice"
    return found


def _assert_nothing_lost(clients: list[LoadClient], games: list[GameRecord]) -> None:
    """Every game the server surely started is stored; every game the
    client saw end is stored as won with its guesses; nothing else is."""
    stored = _by_lower(games)
    confirmed = 0
    for client in clients:
        for lower in client.started:
            assert lower in stored, f"game {lower} was started but not recorded"
        for lower, (_, guesses) in client.confirmed.items():
            game = stored[lower]
            assert game.outcome is Outcome.WON
            assert len(game.guesses) == guesses
            confirmed += 1
    sent = set().union(*(c.sent for c in clients))
    assert set(stored) <= sent
    assert confirmed > 50, "the load was too light to tell anything"


@pytest.mark.parametrize("backend", [b.value for b in Backend])
def test_sigterm_under_load_loses_no_game(backend: str, tmp_path: Path) -> None:
    db = tmp_path / "games.sqlite3"
    server = ServeProcess(db, tmp_path / "serve.log", "--backend", backend, "--grace", "2")
    clients = start_load(server.address, CLIENTS)
    time.sleep(LOAD_SECONDS)
    status = server.stop(signal.SIGTERM)
    for client in clients:
        client.stop.set()
        client.join()
    assert status == 0, server.log.read_text()
    log = server.log.read_text()
    assert "Traceback" not in log
    assert "recorded" in log and "not recorded" not in log

    games = stored_games(db)
    _assert_nothing_lost(clients, games)
    # The clients' own count of finished games against the database's.
    finished = sum(len(c.confirmed) for c in clients)
    won = sum(1 for g in games if g.outcome is Outcome.WON)
    assert finished <= won <= finished + CLIENTS


def test_sigkill_under_load_loses_at_most_the_last_second(tmp_path: Path) -> None:
    db = tmp_path / "games.sqlite3"
    server = ServeProcess(db, tmp_path / "serve.log")
    clients = start_load(server.address, CLIENTS)
    time.sleep(LOAD_SECONDS + 1.0)
    killed_at = time.time()
    server.stop(signal.SIGKILL)
    for client in clients:
        client.stop.set()
        client.join()

    # The database opens, is sound, and a new server can write to it.
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()
    stored = _by_lower(stored_games(db))
    old_enough = 0
    for client in clients:
        for lower, (ended, guesses) in client.confirmed.items():
            if ended < killed_at - 1.0:
                old_enough += 1
                assert lower in stored, (
                    f"game {lower} ended {killed_at - ended:.2f}s before the kill"
                )
                assert len(stored[lower].guesses) == guesses
    assert old_enough > 50, "the load was too light to tell anything"
    with SqliteStore(db) as store:
        store.record(next(iter(stored.values())))
    assert count_games(db) == len(stored) + 1
    status, out, err = run_cli("stats", "--db", str(db), "--json")
    assert status == 0, err


def test_two_servers_share_one_database(tmp_path: Path) -> None:
    db = tmp_path / "games.sqlite3"
    servers = [ServeProcess(db, tmp_path / f"serve{i}.log") for i in range(2)]
    clients = [
        LoadClient(server.address, index=10 * (i + 1) + k).start()
        for i, server in enumerate(servers)
        for k in range(CLIENTS // 2)
    ]
    time.sleep(LOAD_SECONDS)
    for server in servers:
        server.signal(signal.SIGTERM)
    for server in servers:
        assert server.wait() == 0, server.log.read_text()
    for client in clients:
        client.stop.set()
        client.join()
    _assert_nothing_lost(clients, stored_games(db))


_WRITER = """
import sys, time
from guessgame.records import GameRecord, Outcome
from guessgame.protocol import Decision
from guessgame.store.sqlite import SqliteStore

index, count = int(sys.argv[1]), int(sys.argv[2])
guesses = ((5, Decision.UNSURE), (3, Decision.WARMER), (4, Decision.CORRECT))
with SqliteStore(sys.argv[3]) as store:
    for i in range(count):
        now = time.time()
        lower = index * 10**9 + i
        store.record(GameRecord(lower, lower + 9, "smart", "threads", "127.0.0.1:1",
                                now, now, Outcome.WON, guesses))
        if i % 1000 == 999:
            time.sleep(0.01)  # a burst, then a breath: the queue never overflows
print(store.written, store.dropped)
"""


def test_concurrent_writer_processes_keep_every_record(tmp_path: Path) -> None:
    db = tmp_path / "games.sqlite3"
    SqliteStore(db).close()  # the schema exists before the race
    count = 10_000
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(i + 1), str(count), str(db)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=TIMEOUT * 3)
        assert proc.returncode == 0, err
        assert out.split() == [str(count), "0"], (out, err)
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*), count(DISTINCT id) FROM games").fetchone() == (
        3 * count,
        3 * count,
    )
    assert conn.execute("SELECT sum(guess_count) FROM games").fetchone() == (9 * count,)
    assert conn.execute("SELECT DISTINCT guesses FROM games").fetchall() == [("5? 3+ 4=",)]
    conn.close()
