"""Helpers of the store tests: records, in-process and subprocess servers,
and load clients that know which of their games the server must have."""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from guessgame import Client, Judge
from guessgame.cli import IO, main
from guessgame.judge import ClientError
from guessgame.protocol import INT64_MAX, INT64_MIN, Decision
from guessgame.records import GameRecord, Outcome
from guessgame.server import Backend, ServerConfig, ServerHub
from guessgame.server_asyncio import AsyncioServer
from guessgame.server_threads import ThreadedServer
from guessgame.store import Store
from guessgame.store.sqlite import connect_readonly, open_database, read_games

#: Seconds any wait of these helpers may take before the test fails.
TIMEOUT = 10.0


def make_record(**changes: object) -> GameRecord:
    """A won game over 1..5, changed as asked."""
    now = time.time()
    record = GameRecord(
        lower=1,
        upper=5,
        strategy="smart",
        backend="asyncio",
        peer="127.0.0.1:40000",
        started_at=now - 0.01,
        ended_at=now,
        outcome=Outcome.WON,
        guesses=((2, Decision.UNSURE), (4, Decision.COLDER), (3, Decision.CORRECT)),
    )
    return record._replace(**changes)


def edge_records() -> list[GameRecord]:
    """Four games at the edges of what a record holds: 64-bit bounds and
    guesses, unreported guesses, no guesses, a long game."""
    t = 1_700_000_000.0
    return [
        make_record(started_at=t, ended_at=t + 1),
        make_record(
            lower=INT64_MIN,
            upper=INT64_MAX,
            strategy="random",
            backend="threads",
            peer="[::1]:5000",
            started_at=t + 1,
            ended_at=t + 2.5,
            outcome=Outcome.ABANDONED,
            guesses=((INT64_MAX, Decision.UNSURE), (INT64_MIN, None)),
        ),
        make_record(started_at=t + 2, ended_at=t + 3, outcome=Outcome.ERROR, guesses=()),
        make_record(
            lower=-50,
            upper=50,
            started_at=t + 3,
            ended_at=t + 4,
            guesses=tuple((n, Decision.COLDER) for n in range(-50, 40)) + ((40, Decision.CORRECT),),
        ),
    ]


def stored_games(path: Path) -> list[GameRecord]:
    """Every game in the database at ``path``, in the order they ended."""
    conn = connect_readonly(path)
    try:
        return [record for _, record in read_games(conn)]
    finally:
        conn.close()


_TALLY_KEY = "strategy, backend, size_decade, outcome, guess_count"
#: The tally ``stats`` reads, and what it must equal: the stored games counted.
TALLY = f"SELECT {_TALLY_KEY}, games FROM game_tally ORDER BY {_TALLY_KEY}"
TALLY_OF_GAMES = (
    f"SELECT {_TALLY_KEY}, count(*) FROM games GROUP BY {_TALLY_KEY} ORDER BY {_TALLY_KEY}"
)


def count_games(path: Path) -> int:
    """How many games the database holds; fails the test unless its tally
    counts exactly those games (both read in one snapshot)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        (n,) = conn.execute("SELECT count(*) FROM games").fetchone()
        tally = conn.execute(TALLY).fetchall()
        assert tally == conn.execute(TALLY_OF_GAMES).fetchall(), "the tally is not the games'"
        conn.execute("COMMIT")
        return int(n)
    finally:
        conn.close()


def run_cli(*argv: str) -> tuple[int, str, str]:
    """``guessgame.cli.main(argv)`` in-process: (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), io=IO(stdin=io.StringIO(), stdout=out, stderr=err))
    return status, out.getvalue(), err.getvalue()


def run_cli_unprivileged(*argv: str) -> tuple[int, str, str]:
    """:func:`run_cli` as a user without root's power to write anywhere.

    Not root already: just :func:`run_cli`. Root: in a forked child that
    drops to ``nobody`` first, since root writes to read-only directories.
    """
    if os.geteuid() != 0:
        return run_cli(*argv)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report (status, stdout, stderr) and leave
        try:
            os.close(read_end)
            os.setgid(65534)
            os.setuid(65534)
            status, out, err = run_cli(*argv)
            os.write(write_end, json.dumps([status, out, err]).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    status, out, err = json.loads(data)
    return int(status), str(out), str(err)


def version_1_database(path: Path) -> None:
    """A database as version 1 of the schema left it, with two games."""
    conn = open_database(path, target=1)
    conn.execute(
        "INSERT INTO games (key, id, lower, upper, strategy, backend, peer, started_at,"
        " ended_at, outcome, guess_count) VALUES"
        " (1, '01900000-0000-7000-8000-000000000001', 1, 100, 'smart', 'asyncio',"
        "  '127.0.0.1:1', 1.0, 2.0, 'won', 2),"
        " (2, '01900000-0000-7000-8000-000000000002', ?, ?, 'random', 'threads',"
        "  '127.0.0.1:2', 3.0, 4.0, 'abandoned', 1)",
        (-(2**63), 2**63 - 1),
    )
    conn.execute(
        "INSERT INTO guesses (game_key, seq, guess, decision) VALUES"
        " (1, 0, 50, 'unsure'), (1, 1, 7, 'correct'), (2, 0, 0, NULL)"
    )
    conn.close()


def version_2_database(path: Path) -> None:
    """A database as version 2 of the schema left it: one row per guess."""
    conn = open_database(path, target=2)
    conn.execute(
        "INSERT INTO games (key, id, lower, upper, size_decade, strategy, backend, peer,"
        " started_at, ended_at, outcome, guess_count) VALUES"
        " (1, '01900000-0000-7000-8000-000000000001', -100, 100, 2, 'smart', 'asyncio',"
        "  '127.0.0.1:1', 1.0, 2.0, 'won', 4),"
        " (2, '01900000-0000-7000-8000-000000000002', 1, 5, 0, 'random', 'threads',"
        "  '127.0.0.1:2', 3.0, 4.0, 'error', 0),"
        " (3, '01900000-0000-7000-8000-000000000003', 1, 9, 0, 'random', 'threads',"
        "  '127.0.0.1:3', 5.0, 6.0, 'abandoned', 2)"
    )
    # Inserted out of order: the migration must follow seq, not the rowid.
    conn.execute(
        "INSERT INTO guesses (game_key, seq, guess, decision) VALUES"
        " (1, 3, -7, 'correct'), (1, 0, 0, 'unsure'), (1, 2, -50, 'warmer'),"
        " (1, 1, 50, 'colder'), (3, 1, 9, NULL), (3, 0, 5, 'unsure')"
    )
    conn.close()


# -- in-process servers ---------------------------------------------------------


@contextlib.contextmanager
def running_server(
    backend: str, store: Store, *, seed: int | None = None, **config: object
) -> Iterator[tuple[str, int]]:
    """A server of ``backend`` on a free loopback port, recording into
    ``store``, stopped (games drained) when the block ends. With ``seed``
    its guesses are reproducible for a reproducible conversation."""
    hub = ServerHub(
        ServerConfig(host="127.0.0.1", port=0, backend=Backend(backend), grace=1.0, **config),
        store,
    )
    if seed is not None:
        hub.game_config = replace(hub.game_config, rng=random.Random(seed))
    server: AsyncioServer | ThreadedServer = (
        ThreadedServer(hub) if backend == Backend.THREADS.value else AsyncioServer(hub)
    )
    bound: list[tuple[str, int]] = []
    ready = threading.Event()

    def on_ready(address: tuple[str, int]) -> None:
        bound.append(address)
        ready.set()

    thread = threading.Thread(
        target=server.run, args=(on_ready,), kwargs={"handle_signals": False}, daemon=True
    )
    thread.start()
    assert ready.wait(TIMEOUT), "server did not start"
    try:
        yield bound[0]
    finally:
        server.request_stop()
        thread.join(TIMEOUT)
        assert not thread.is_alive(), "server did not stop"


# -- subprocess servers ---------------------------------------------------------


class ServeProcess:
    """``python -m guessgame serve --port 0 --db FILE`` in a subprocess.

    Its log goes to a file (a pipe nobody reads would fill and stall the
    server, which logs a line per game); the port comes from its
    ``serving on HOST:PORT`` line.
    """

    def __init__(self, db: Path, log: Path, *args: str) -> None:
        self.log = log
        self._log_file = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "guessgame", "serve", "--port", "0", "--db", str(db), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log_file,
        )
        self.address = ("127.0.0.1", self._wait_for_port())

    def _wait_for_port(self) -> int:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            match = re.search(rb"serving on [^ ]+:(\d+)", self.log.read_bytes())
            if match:
                return int(match.group(1))
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.stop(signal.SIGKILL)
        raise AssertionError(f"server did not start: {self.log.read_text(errors='replace')}")

    def signal(self, signum: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)

    def wait(self) -> int:
        """The exit status, once the server exited (killed if it hangs)."""
        try:
            return self.proc.wait(TIMEOUT * 2)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._log_file.close()

    def stop(self, signum: int) -> int:
        """Send ``signum`` (once) and wait for the exit status."""
        self.signal(signum)
        return self.wait()


# -- load clients ---------------------------------------------------------------


@dataclass
class LoadClient:
    """Plays games in a loop on one connection until stopped or cut off.

    Every game has its own ``lower`` bound, so the test can find it in the
    database. After each win the client sends ``CLEAR`` and ``NUMBER`` and
    waits for ``ERROR no-game``: that reply proves the server ended the
    game, and the time it arrived is when the game was over for sure.
    """

    address: tuple[str, int]
    index: int
    #: lower bound -> guesses, for games the server surely started (it
    #: answered a NUMBER of the game).
    started: dict[int, int] = field(default_factory=dict)
    #: lower bound -> (time the end was confirmed, guesses) of won games.
    confirmed: dict[int, tuple[float, int]] = field(default_factory=dict)
    #: lower bounds of every game whose PARAMS line was sent.
    sent: set[int] = field(default_factory=set)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def start(self) -> LoadClient:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def join(self) -> None:
        assert self.thread is not None
        self.thread.join(TIMEOUT * 2)
        assert not self.thread.is_alive(), "load client did not finish"

    def _run(self) -> None:
        rng = random.Random(self.index)
        try:
            with Client.connect(*self.address, timeout=TIMEOUT) as client:
                game = 0
                while not self.stop.is_set():
                    lower = self.index * 10**9 + game * 100
                    game += 1
                    self._play(client, lower, lower + 9, rng.randint(lower, lower + 9))
        except (ClientError, OSError):
            pass  # the server went away: the end of the load

    def _play(self, client: Client, lower: int, upper: int, secret: int) -> None:
        judge = Judge(secret)
        self.sent.add(lower)
        client.send(b"PARAMS %d %d\n" % (lower, upper))
        guesses = 0
        while not judge.found:
            guess = client.number()
            guesses += 1
            self.started[lower] = guesses
            client.report(judge.judge(guess))
        client.send(b"CLEAR\nNUMBER\n")
        reply = client.receive()
        assert reply.startswith(b"ERROR no-game"), reply
        self.confirmed[lower] = (time.time(), guesses)


def start_load(address: tuple[str, int], clients: int) -> list[LoadClient]:
    return [LoadClient(address, i + 1).start() for i in range(clients)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
