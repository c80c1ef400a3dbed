"""The behavioural suite over real loopback TCP, run against both backends.

Every test taking the ``server`` fixture runs once per backend (asyncio and
threads); the subprocess tests are parametrized over the backends by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import socket
import threading
import time
from typing import Any

import pytest

from conftest import BACKENDS, IO_TIMEOUT, LineSocket, RunningServer, ServerProcess
from guessgame.aclient import AsyncClient
from guessgame.client import Client
from guessgame.game import GameConfig, ServerConnection
from guessgame.judge import Judge
from guessgame.protocol import DEFAULT_MAX_LINE, INT64_MAX, INT64_MIN, Decision, Lang
from guessgame.records import Outcome

SEED_GAMES = ((1, 5, 3), (10, 15, 12))


def check_game(results: list[tuple[int, Decision]], lower: int, upper: int, secret: int) -> None:
    """Guesses in range, never repeated, judged as the seed's client does."""
    judge = Judge(secret)
    guesses = [g for g, _ in results]
    assert len(set(guesses)) == len(guesses)
    for guess, decision in results:
        assert lower <= guess <= upper
        assert judge.judge(guess) is decision


def check_records(srv: RunningServer, games: list[Any], peer: str) -> None:
    """The server recorded each game exactly as the client played it."""
    records = srv.wait_for_records(len(games))
    assert len(records) == len(games)
    for record, (lower, upper, results) in zip(records, games, strict=True):
        assert (record.lower, record.upper) == (lower, upper)
        assert record.peer == peer
        assert record.backend == srv.config.backend.value
        assert record.strategy == srv.config.strategy
        assert list(record.guesses) == results
        found = bool(results) and results[-1][1] is Decision.CORRECT
        assert record.outcome is (Outcome.WON if found else Outcome.ABANDONED)


def peer_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"{host}:{port}"


# -- full games -------------------------------------------------------------


@pytest.mark.parametrize("lang", list(Lang))
def test_client_plays_the_seed_games(server: Any, lang: Lang) -> None:
    srv = server(strategy="random")
    games = []
    with Client.connect(srv.host, srv.port, timeout=IO_TIMEOUT, lang=lang) as client:
        for lower, upper, secret in SEED_GAMES:
            with client.session(lower, upper, secret):
                results = [(n, client.report_outcome(n)) for n in client.request_numbers(5)]
            check_game(results, lower, upper, secret)
            games.append((lower, upper, results))
        peer = peer_of(client.sock)
    # Five distinct guesses among five numbers always find the secret.
    assert games[0][2][-1] == (3, Decision.CORRECT)
    check_records(srv, games, peer)


@pytest.mark.parametrize("lang", list(Lang))
def test_async_client_plays_the_seed_games(server: Any, lang: Lang) -> None:
    srv = server(strategy="random")

    async def play() -> tuple[list[Any], str]:
        games = []
        async with await AsyncClient.connect(srv.host, srv.port, lang=lang) as client:
            for lower, upper, secret in SEED_GAMES:
                async with client.session(lower, upper, secret):
                    results = [
                        (n, await client.report_outcome(n)) async for n in client.request_numbers(5)
                    ]
                check_game(results, lower, upper, secret)
                games.append((lower, upper, results))
            peer = peer_of(client.writer.get_extra_info("socket"))
        return games, peer

    games, peer = asyncio.run(asyncio.wait_for(play(), 20))
    assert games[0][2][-1] == (3, Decision.CORRECT)
    check_records(srv, games, peer)


def test_many_games_on_one_connection_always_end_found(server: Any) -> None:
    srv = server(strategy="random")
    rng = random.Random(5)
    games = []
    with Client.connect(srv.host, srv.port, timeout=IO_TIMEOUT) as client:
        for _ in range(30):
            lower = rng.randrange(-1000, 1000)
            upper = lower + rng.randrange(0, 12)
            secret = rng.randint(lower, upper)
            with client.session(lower, upper, secret):
                results = [
                    (n, client.report_outcome(n)) for n in client.request_numbers(upper - lower + 1)
                ]
            check_game(results, lower, upper, secret)
            assert results[-1] == (secret, Decision.CORRECT)
            games.append((lower, upper, results))
        peer = peer_of(client.sock)
    check_records(srv, games, peer)


def test_smart_strategy_serves_full_games(server: Any) -> None:
    srv = server(strategy="smart")
    with Client.connect(srv.host, srv.port, timeout=IO_TIMEOUT) as client:
        for secret in (1, 50, 100):
            with client.session(1, 100, secret):
                results = [(n, client.report_outcome(n)) for n in client.request_numbers(100)]
            check_game(results, 1, 100, secret)
            assert results[-1] == (secret, Decision.CORRECT)
    assert [r.outcome for r in srv.wait_for_records(3)] == [Outcome.WON] * 3


# -- the seed's own client and server ---------------------------------------


class SeedClient:
    """The seed's ``Client``, as written there, over a raw socket.

    ``words`` are the decision tokens it sends: the seed's Korean or the
    book's English.
    """

    def __init__(self, connection: socket.socket, words: dict[Decision, str]) -> None:
        self.connection = connection
        self.file = connection.makefile("rb")
        self.words = words
        self.secret: int | None = None
        self.last_distance: float | None = None

    def send(self, command: str) -> None:
        self.connection.send((command + "\n").encode())

    def receive(self) -> str:
        line = self.file.readline()
        if not line:
            raise EOFError("연결 닫힘")
        return str(line[:-1].decode())

    @contextlib.contextmanager
    def session(self, lower: int, upper: int, secret: int) -> Any:
        self.secret = secret
        self.send(f"PARAMS {lower} {upper}")
        try:
            yield
        finally:
            self.secret = None
            self.last_distance = None
            self.send("PARAMS 0 -1")

    def request_numbers(self, count: int) -> Any:
        for _ in range(count):
            self.send("NUMBER")
            data = self.receive()
            yield int(data)
            if self.last_distance == 0:
                return

    def report_outcome(self, number: int) -> str:
        assert self.secret is not None
        new_distance = math.fabs(number - self.secret)
        decision = self.words[Decision.UNSURE]
        if new_distance == 0:
            decision = self.words[Decision.CORRECT]
        elif self.last_distance is None:
            pass
        elif new_distance < self.last_distance:
            decision = self.words[Decision.WARMER]
        elif new_distance > self.last_distance:
            decision = self.words[Decision.COLDER]
        self.last_distance = new_distance
        self.send(f"REPORT {decision}")
        return decision


@pytest.mark.parametrize("lang", list(Lang))
def test_the_seeds_client_plays(server: Any, lang: Lang) -> None:
    srv = server(strategy="random")
    words = {d: d.token(lang) for d in Decision}
    decisions = {w: d for d, w in words.items()}
    games = []
    with socket.create_connection(srv.address, timeout=IO_TIMEOUT) as connection:
        client = SeedClient(connection, words)
        for lower, upper, secret in SEED_GAMES:
            with client.session(lower, upper, secret):
                results = [(x, client.report_outcome(x)) for x in client.request_numbers(5)]
            typed = [(x, decisions[w]) for x, w in results]
            check_game(typed, lower, upper, secret)
            games.append((lower, upper, typed))
        peer = peer_of(connection)
    assert games[0][2][-1] == (3, Decision.CORRECT)
    check_records(srv, games, peer)


def _seed_server(listener: socket.socket, seen: list[tuple[int, str]]) -> None:
    """The seed's threaded server (``Session.loop``), serving one connection."""
    connection, _ = listener.accept()
    with connection:
        file = connection.makefile("rb")
        lower = upper = secret = None
        guesses: list[int] = []
        while line := file.readline():
            parts = line[:-1].decode().split(" ")
            if parts[0] == "PARAMS":
                assert len(parts) == 3
                lower, upper, secret, guesses = int(parts[1]), int(parts[2]), None, []
            elif parts[0] == "NUMBER":
                if secret is not None:
                    guess = secret
                else:
                    assert lower is not None and upper is not None
                    while (guess := random.randint(lower, upper)) in guesses:
                        pass
                guesses.append(guess)
                connection.send(f"{guess}\n".encode())
            elif parts[0] == "REPORT":
                assert len(parts) == 2
                if parts[1] == "맞음":
                    secret = guesses[-1]
                seen.append((guesses[-1], parts[1]))
            else:
                raise AssertionError(f"unknown command {line!r}")


def test_our_client_plays_against_the_seeds_server() -> None:
    seen: list[tuple[int, str]] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(IO_TIMEOUT)
        thread = threading.Thread(target=_seed_server, args=(listener, seen), daemon=True)
        thread.start()
        results = []
        with Client.connect(*listener.getsockname(), timeout=IO_TIMEOUT) as client:
            for lower, upper, secret in SEED_GAMES:
                with client.session(lower, upper, secret):
                    game = [(n, client.report_outcome(n)) for n in client.request_numbers(5)]
                check_game(game, lower, upper, secret)
                results += game
        thread.join(IO_TIMEOUT)
    assert not thread.is_alive()
    assert seen == [(n, d.token(Lang.KO)) for n, d in results]


# -- the same bytes get the same answers -------------------------------------

#: Deterministic whatever the rng: every range holds one number.
WIRE_SCRIPT = (
    "PARAMS 7 7\nNUMBER\nREPORT 맞음\nNUMBER\r\nREPORT correct\n\n   \nFOO bar\n"
    "PARAMS 1\nPARAMS a b\nNUMBER 5\nCLEAR x\nREPORT\nREPORT hot\nREPORT 맞음\n"
    "params -3 -3\nnumber\nNUMBER\nREPORT Unsure\nREPORT Unsure\nclear\nNUMBER\n"
    "REPORT warmer\n"
    f"PARAMS {INT64_MAX} {INT64_MAX}\nNUMBER\nPARAMS {INT64_MIN} {INT64_MIN}\n\tNUMBER \n"
    f"PARAMS 0 {INT64_MAX + 1}\nNUMBER\nPARAMS 0 -1\nNUMBER\n"
).encode() + b"\xff\xfe\nREPORT \xeb\xa7\nPARAMS 2 2\nNUMBER\n"


def core_reply(script: bytes) -> bytes:
    return ServerConnection(GameConfig(strategy="random")).receive_data(script)


def test_wire_script_covers_the_codes() -> None:
    codes = {line.split()[1] for line in core_reply(WIRE_SCRIPT).split(b"\n") if b"ERROR" in line}
    assert codes == {
        b"unknown-command",
        b"bad-params",
        b"no-game",
        b"no-guess",
        b"bad-report",
        b"no-candidates",
        b"bad-encoding",
    }


@pytest.mark.parametrize("chunk", [None, 1, 7])
def test_the_wire_answers_as_the_core(server: Any, chunk: int | None) -> None:
    """Pipelined, in one write or in small pieces, then half-closed: the reply
    stream is byte for byte the core's, and the server closes after it."""
    srv = server(strategy="random")
    with LineSocket(srv.address) as s:
        if chunk is None:
            s.send(WIRE_SCRIPT)
        else:
            s.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for i in range(0, len(WIRE_SCRIPT), chunk):
                s.send(WIRE_SCRIPT[i : i + chunk])
        s.sock.shutdown(socket.SHUT_WR)
        assert s.read_until_closed() == core_reply(WIRE_SCRIPT)


def test_overlong_line_over_the_wire_closes(server: Any) -> None:
    srv = server(strategy="random")
    script = b"PARAMS 4 4\nNUMBER\n" + b"x" * (DEFAULT_MAX_LINE + 1) + b"\nNUMBER\n"
    with LineSocket(srv.address) as s:
        s.send(script)
        data = s.read_until_closed()
    assert data.startswith(b"4\nERROR line-too-long ")
    assert data.count(b"\n") == 2
    [record] = srv.wait_for_records(1)
    assert record.outcome is Outcome.ERROR
    assert record.guesses == ((4, None),)


def test_overlong_partial_line_over_the_wire_closes(server: Any) -> None:
    srv = server(strategy="random")
    with LineSocket(srv.address) as s:
        s.send(b"z" * (DEFAULT_MAX_LINE * 3))  # no newline, ever
        line = s.recvline()
        assert line.startswith("ERROR line-too-long ")
        assert s.is_closed_by_server()


#: (lines that set the state up, the bad line, its code)
ERROR_TABLE = [
    ([], "FROB 1 2", "unknown-command"),
    ([], "PARAMS 1", "bad-params"),
    ([], "PARAMS 1 x", "bad-params"),
    ([], f"PARAMS {INT64_MIN - 1} 0", "bad-params"),
    (["PARAMS 1 5"], "NUMBER 5", "bad-params"),
    (["PARAMS 1 5"], "CLEAR x", "bad-params"),
    ([], "NUMBER", "no-game"),
    ([], "REPORT 맞음", "no-game"),
    (["PARAMS 1 5"], "REPORT 맞음", "no-guess"),
    (["PARAMS 1 5", "NUMBER*", "REPORT Unsure"], "REPORT Unsure", "no-guess"),
    (["PARAMS 1 5", "NUMBER*"], "REPORT lukewarm", "bad-report"),
    (["PARAMS 8 8", "NUMBER*"], "NUMBER", "no-candidates"),
    ([], b"REPORT \xff\xfe", "bad-encoding"),
]


@pytest.mark.parametrize("setup,bad,code", ERROR_TABLE, ids=[c for _, _, c in ERROR_TABLE])
def test_error_table_over_the_wire(
    server: Any, setup: list[str], bad: str | bytes, code: str
) -> None:
    srv = server(strategy="random")
    with LineSocket(srv.address) as s:
        for line in setup:
            if line.endswith("*"):  # a line with a reply
                s.ask(line[:-1])
            else:
                s.sendline(line)
        s.send(bad)
        s.send(b"\n")
        reply = s.recvline()
        assert reply.startswith(f"ERROR {code} ")
        assert len(reply) > len(f"ERROR {code} ") + 5  # a human-readable message
        # Still usable, and in the same state: a game in progress goes on.
        if any(x.startswith("PARAMS") for x in setup) and code != "no-candidates":
            assert 1 <= int(s.ask("NUMBER")) <= 8
        assert s.ask("PARAMS 6 6\nNUMBER") == "6"
        assert s.ask("REPORT Correct\nNUMBER") == "6"


def test_bad_lines_never_affect_another_connection(server: Any) -> None:
    srv = server(strategy="random")
    with LineSocket(srv.address) as good, LineSocket(srv.address) as bad:
        good.sendline("PARAMS 1 1000")
        seen = set()
        for i in range(50):
            bad.send(b"\xff\nFOO\nREPORT x\nNUMBER\n" + b"q" * (i * 20) + b"\n")
            seen.add(int(good.ask("NUMBER")))
        assert len(seen) == 50
        bad.send(b"w" * 5000)
        assert good.ask("REPORT same\nNUMBER").isdigit()


# -- load: a flooding client next to a well-behaved one -------------------------


@pytest.mark.slow
def test_flooding_client_does_not_starve_others(server: Any) -> None:
    srv = server(strategy="random", max_connections=100)
    flood = socket.create_connection(srv.address, timeout=IO_TIMEOUT)
    flood.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    payload = f"PARAMS {INT64_MIN} {INT64_MAX}\n".encode() + b"NUMBER\n" * 100_000
    sent = threading.Event()

    def pour() -> None:
        flood.settimeout(10)
        with contextlib.suppress(OSError):
            flood.sendall(payload)
        sent.set()

    pourer = threading.Thread(target=pour, daemon=True)
    pourer.start()
    try:
        time.sleep(0.2)  # let the flood build up
        durations = []
        with Client.connect(srv.host, srv.port, timeout=IO_TIMEOUT) as client:
            for i in range(40):
                start = time.perf_counter()
                with client.session(1, 10, i % 10 + 1):
                    results = [(n, client.report_outcome(n)) for n in client.request_numbers(10)]
                durations.append(time.perf_counter() - start)
                assert results[-1][1] is Decision.CORRECT
        assert max(durations) < 1.0, durations
        assert sum(durations) < 5.0, durations
    finally:
        flood_peer = peer_of(flood)
        flood.close()  # unread replies: the kernel resets the connection
        pourer.join(15)
    # The flooder's game ends and is recorded: the server let it go.
    deadline = time.monotonic() + IO_TIMEOUT
    while not any(r.peer == flood_peer for r in srv.records):
        assert time.monotonic() < deadline, "the flooding connection was never released"
        time.sleep(0.05)
    # And the server still serves.
    with LineSocket(srv.address) as s:
        assert s.ask("PARAMS 5 5\nNUMBER") == "5"


# -- connection limit ---------------------------------------------------------


def _served(address: tuple[str, int]) -> LineSocket | None:
    """A connection that the server serves, or None if it said busy."""
    s = LineSocket(address)
    reply = s.ask("NUMBER")
    if reply.startswith("ERROR busy "):
        assert s.is_closed_by_server()
        s.close()
        return None
    assert reply.startswith("ERROR no-game "), reply
    return s


def test_max_connections(server: Any) -> None:
    srv = server(strategy="random", max_connections=3)
    conns = [_served(srv.address) for _ in range(3)]
    assert all(conns)
    try:
        for _ in range(2):
            with LineSocket(srv.address) as extra:
                line = extra.recvline()
                assert line.startswith("ERROR busy ")
                assert extra.is_closed_by_server()
        # The ones in place are unaffected.
        for c in conns:
            assert c is not None
            assert c.ask("PARAMS 2 2\nNUMBER") == "2"
        conns.pop().close()  # type: ignore[union-attr]
        deadline = time.monotonic() + IO_TIMEOUT
        while (s := _served(srv.address)) is None:
            assert time.monotonic() < deadline, "a freed slot was never reused"
            time.sleep(0.05)
        conns.append(s)
        with LineSocket(srv.address) as extra:
            assert extra.recvline().startswith("ERROR busy ")
    finally:
        for c in conns:
            if c is not None:
                c.close()


def test_busy_reaches_a_client_that_talks_first(server: Any) -> None:
    """The seed's client sends PARAMS and NUMBER right after connecting: the
    busy line must reach it, not a reset caused by closing over its input."""
    srv = server(strategy="random", max_connections=1)
    holder = _served(srv.address)
    assert holder is not None
    try:
        for _ in range(150):
            with socket.create_connection(srv.address, timeout=IO_TIMEOUT) as s:
                s.sendall(b"PARAMS 1 5\nNUMBER\n" * 50)
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
            assert data.startswith(b"ERROR busy ") and data.count(b"\n") == 1, data
    finally:
        holder.close()


# -- idle timeout ---------------------------------------------------------------


def _closed_after(sock: socket.socket, start: float, timeout: float = IO_TIMEOUT) -> float:
    """Seconds from ``start`` until the server closed ``sock`` (reading everything)."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    return time.monotonic() - start


@pytest.mark.slow
def test_idle_timeout(server: Any) -> None:
    srv = server(strategy="random", idle_timeout=0.5)
    start = time.monotonic()
    idle = socket.create_connection(srv.address, timeout=IO_TIMEOUT)
    in_game = socket.create_connection(srv.address, timeout=IO_TIMEOUT)
    in_game.sendall(b"PARAMS 1 5\n")
    slow = socket.create_connection(srv.address, timeout=IO_TIMEOUT)
    active = LineSocket(srv.address)
    active.sendline("PARAMS 1 1000000")
    stop = threading.Event()
    slow_closed: list[float] = []

    def slowloris() -> None:
        try:
            while not stop.is_set():
                slow.sendall(b"N")
                time.sleep(0.1)
        except OSError:
            slow_closed.append(time.monotonic() - start)

    t = threading.Thread(target=slowloris, daemon=True)
    t.start()
    results: dict[str, float] = {}
    waiters = [
        threading.Thread(target=lambda k=k, s=s: results.__setitem__(k, _closed_after(s, start)))
        for k, s in (("idle", idle), ("in_game", in_game), ("slow", slow))
    ]
    for w in waiters:
        w.start()
    try:
        # The active connection sends a line every 0.1 s for three timeouts.
        while time.monotonic() - start < 1.6:
            assert active.ask("NUMBER").isdigit()
            time.sleep(0.1)
        for w in waiters:
            w.join(IO_TIMEOUT)
        assert set(results) == {"idle", "in_game", "slow"}
        for name, after in results.items():
            assert 0.45 <= after < 1.6, (name, after)
        assert active.ask("NUMBER").isdigit()
    finally:
        stop.set()
        t.join(IO_TIMEOUT)
        for s in (idle, in_game, slow):
            s.close()
        active.close()
    # A game cut by the timeout is recorded as an error.
    records = srv.wait_for_records(1)
    assert records[0].outcome is Outcome.ERROR
    assert (records[0].lower, records[0].upper) == (1, 5)


# -- subprocess servers: signals, port in use, logging ------------------------


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_sigterm_lets_the_game_in_flight_finish(spawn_server: Any, backend: str) -> None:
    proc: ServerProcess = spawn_server(
        "--port", "0", "--no-db", "--backend", backend, "--strategy", "random"
    )
    playing = LineSocket(proc.address)
    playing.sendline("PARAMS 1 5")
    judge = Judge(3)
    first = int(playing.ask("NUMBER"))
    with LineSocket(proc.address) as idle:
        assert idle.ask("NUMBER").startswith("ERROR no-game ")
        proc.terminate()
        # The idle connection is closed at once...
        assert idle.is_closed_by_server()
    # ...the listener is gone...
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(proc.address, timeout=IO_TIMEOUT).close()
    # ...and the game in flight plays to its end.
    with playing:
        guess = first
        for _ in range(5):
            decision = judge.judge(guess)
            playing.sendline(f"REPORT {decision.token()}")
            if decision is Decision.CORRECT:
                break
            guess = int(playing.ask("NUMBER"))
        assert judge.found
        playing.sendline("PARAMS 0 -1")
        assert playing.is_closed_by_server()
    assert proc.wait() == 0
    log = "\n".join(proc.stderr_all)
    assert "Traceback" not in log
    assert "game 1..5 won" in log


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_sigterm_closes_games_after_the_grace_period(spawn_server: Any, backend: str) -> None:
    proc: ServerProcess = spawn_server(
        "--port", "0", "--no-db", "--backend", backend, "--grace", "0.5"
    )
    with LineSocket(proc.address) as stalled:
        stalled.sendline("PARAMS 1 100")
        assert stalled.ask("NUMBER").isdigit()
        start = time.monotonic()
        proc.terminate()
        assert stalled.is_closed_by_server()
        assert 0.4 <= time.monotonic() - start < 4.0
    assert proc.wait() == 0
    log = "\n".join(proc.stderr_all)
    assert "Traceback" not in log
    assert "game 1..100 abandoned" in log


@pytest.mark.parametrize("backend", BACKENDS)
def test_serve_on_a_port_in_use(backend: str) -> None:
    import subprocess
    import sys

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "guessgame", "serve", "--port", str(port), "--no-db"]
            + ["--backend", backend],
            capture_output=True,
            timeout=30,
        )
    assert done.returncode == 2
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert str(port) in lines[0] and "in use" in lines[0]
    assert done.stdout == b""


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "lang,expected", [("ko", "서버: 3는 맞음"), ("en", "Server: 3 is Correct")]
)
def test_verbose_logs_reports_in_the_seeds_form(
    spawn_server: Any, backend: str, lang: str, expected: str
) -> None:
    proc: ServerProcess = spawn_server(
        "--port", "0", "--no-db", "--backend", backend, "--lang", lang, "-v"
    )
    with LineSocket(proc.address) as s:
        assert s.ask("PARAMS 3 3\nNUMBER") == "3"
        # The log speaks the server's language whatever the client's words.
        s.sendline("REPORT 맞음")
        assert proc.wait_stdout(expected) == expected
        s.sendline("PARAMS 1 2\nNUMBER\nREPORT Unsure")
        assert s.recvline() in ("1", "2")
    proc.terminate()
    assert proc.wait() == 0
    unsure = "잘모르겠음" if lang == "ko" else "Unsure"
    assert any(line.endswith(unsure) for line in proc.stdout_all), proc.stdout_all
    assert "Traceback" not in "\n".join(proc.stderr_all)
