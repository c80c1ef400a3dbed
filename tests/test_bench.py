"""``guessgame bench``: it counts what goes wrong, by kind, and measures a
sound server without errors.

The broken servers below each misbehave in exactly one way; every run is a
second or so of load on loopback.
"""

from __future__ import annotations

import asyncio
import io
import json
import random
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from guessgame.bench import (
    BenchConfig,
    BenchError,
    ErrorKind,
    _bucket,
    _Client,
    _percentile,
    _Worker,
    raise_nofile_limit,
    run_bench,
)
from guessgame.cli import IO, main
from guessgame.judge import Judge
from guessgame.protocol import Decision
from guessgame.server import ServerConfig, ServerHub
from guessgame.server_asyncio import AsyncioServer

FIXED_KEYS = {
    "connections",
    "duration_s",
    "games",
    "games_per_s",
    "round_trips",
    "round_trips_per_s",
    "errors",
    "number_latency_ms",
    "errors_by_kind",
    "client_cpu_us_per_round_trip",
}

# -- servers -------------------------------------------------------------------


@pytest.fixture(scope="module")
def sound_server() -> Iterator[tuple[str, int]]:
    """Our asyncio server, in a background thread."""
    server = AsyncioServer(ServerHub(ServerConfig(port=0)))
    ready = threading.Event()
    address: list[tuple[str, int]] = []

    def on_ready(addr: tuple[str, int]) -> None:
        address.append(addr)
        ready.set()

    thread = threading.Thread(
        target=server.run, args=(on_ready,), kwargs={"handle_signals": False}, daemon=True
    )
    thread.start()
    assert ready.wait(10), "server did not start"
    yield address[0]
    server.request_stop()
    thread.join(10)


Reply = Callable[["_Broken", int, int], bytes]


class _Broken(asyncio.Protocol):
    """A loose server of the protocol whose NUMBER replies come from ``reply``."""

    def __init__(self, reply: Reply, owner: BrokenServer) -> None:
        self.reply = reply
        self.owner = owner
        self.buf = b""
        self.lower = self.upper = 0
        self.said: set[int] = set()
        self.numbers = 0  # NUMBERs on this connection
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        *lines, self.buf = (self.buf + data).split(b"\n")
        out = b""
        for line in lines:
            words = line.split()
            if words[:1] == [b"PARAMS"]:
                self.lower, self.upper = int(words[1]), int(words[2])
                self.said.clear()
            elif words[:1] == [b"NUMBER"]:
                self.numbers += 1
                out += self.reply(self, self.lower, self.upper)
        if out and self.transport is not None and not self.transport.is_closing():
            self.transport.write(out)

    def fresh(self) -> int:
        """A number of the range not said yet in this game."""
        while True:
            guess = random.randint(self.lower, self.upper)
            if guess not in self.said:
                self.said.add(guess)
                return guess


class BrokenServer:
    """Runs a :class:`_Broken` server on its own event loop in a thread."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._server: asyncio.base_events.Server | None = None
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)

            async def start() -> None:
                self._server = await self.loop.create_server(
                    lambda: _Broken(self.reply, self), "127.0.0.1", 0
                )
                self.port = self._server.sockets[0].getsockname()[1]
                started.set()

            self.loop.run_until_complete(start())
            self.loop.run_forever()
            self._server.close()  # type: ignore[union-attr]
            self.loop.run_until_complete(self._server.wait_closed())  # type: ignore[union-attr]
            self.loop.close()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert started.wait(5)

    def stop_listening(self) -> None:
        """Refuse new connections; those open stay open (call in the loop)."""
        assert self._server is not None
        self._server.close()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def broken() -> Iterator[Callable[[Reply], BrokenServer]]:
    servers: list[BrokenServer] = []

    def make(reply: Reply) -> BrokenServer:
        server = BrokenServer(reply)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


def _fresh(p: _Broken, lower: int, upper: int) -> bytes:
    return b"%d\n" % p.fresh()


def _stall_after_two(p: _Broken, lower: int, upper: int) -> bytes:
    return _fresh(p, lower, upper) if p.numbers <= 2 else b""


def _drop_after_three(p: _Broken, lower: int, upper: int) -> bytes:
    if p.numbers > 3:
        assert p.transport is not None
        p.transport.close()
        return b""
    return _fresh(p, lower, upper)


def _drop_and_stop_listening(p: _Broken, lower: int, upper: int) -> bytes:
    p.owner.stop_listening()
    return _drop_after_three(p, lower, upper)


BROKEN: dict[str, tuple[Reply, dict[str, Any]]] = {
    # The same number twice in a game (correct only if it is the secret).
    "repeat": (lambda p, lo, hi: b"%d\n" % lo, {}),
    "out-of-range": (lambda p, lo, hi: b"%d\n" % (hi + 1000), {}),
    # Each reply is followed by a line nobody asked for.
    "unsolicited": (lambda p, lo, hi: _fresh(p, lo, hi) + b"7\n", {}),
    "server-error": (lambda p, lo, hi: b"ERROR no-game there is no game\n", {}),
    "bad-reply": (lambda p, lo, hi: b"forty-two\n", {}),
    "stall": (_stall_after_two, {"timeout": 0.2}),
    "dropped": (_drop_after_three, {}),
}


# -- what goes wrong is counted ----------------------------------------------------


@pytest.mark.parametrize("kind", list(BROKEN))
def test_counts_each_kind_of_error(kind: str, broken: Callable[[Reply], BrokenServer]) -> None:
    reply, options = BROKEN[kind]
    server = broken(reply)
    result = run_bench(BenchConfig(port=server.port, connections=4, duration=1.0, **options))
    counted = result.errors_by_kind
    assert counted[kind] > 0
    assert {k for k, n in counted.items() if n} == {kind}
    assert result.errors == counted[kind]
    assert set(counted) == {k.value for k in ErrorKind}
    out = json.loads(result.to_json())
    assert out["errors"] == counted[kind] and out["errors_by_kind"][kind] == counted[kind]


def test_connections_that_keep_going_after_errors_still_play(
    broken: Callable[[Reply], BrokenServer],
) -> None:
    # Every game is cut short by a drop after three guesses: the connection
    # opens again and plays on, so round trips keep being counted.
    server = broken(_drop_after_three)
    result = run_bench(BenchConfig(port=server.port, connections=2, duration=0.8))
    assert result.errors_by_kind["dropped"] >= 2
    assert result.round_trips >= 3 * result.errors_by_kind["dropped"] - 6


def test_refused_reconnects_are_counted(broken: Callable[[Reply], BrokenServer]) -> None:
    # The server stops listening, then drops each connection: every attempt
    # to open it again is refused, and retried with a growing delay.
    server = broken(_drop_and_stop_listening)
    result = run_bench(BenchConfig(port=server.port, connections=3, duration=1.0))
    counted = result.errors_by_kind
    assert counted["dropped"] == 3
    assert 3 <= counted["connect"] <= 3 * 5  # 0.1 + 0.2 + 0.4 + 0.8 s: at most 5 each
    assert result.errors == counted["dropped"] + counted["connect"]


def test_connection_refused_is_an_error_to_start() -> None:
    with BrokenServerPort() as port, pytest.raises(BenchError, match="cannot connect"):
        run_bench(BenchConfig(port=port, connections=3, duration=0.5))


class BrokenServerPort:
    """A loopback port nobody listens on."""

    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))  # bound, not listening: connect is refused
        port: int = self.sock.getsockname()[1]
        return port

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def test_too_many_connections_for_the_file_limit_are_refused_clearly() -> None:
    limit = raise_nofile_limit()
    with pytest.raises(BenchError, match=r"ulimit -n"):
        run_bench(BenchConfig(connections=limit + 1, duration=1.0))


# -- a sound server ---------------------------------------------------------------


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_sound_server_runs_without_errors(sound_server: tuple[str, int], loop: str) -> None:
    host, port = sound_server
    seen: list[str] = []
    result = run_bench(
        BenchConfig(host=host, port=port, connections=8, duration=1.0, loop=loop),
        on_progress=lambda p: seen.append(p.phase),
    )
    assert result.errors == 0, result.errors_by_kind
    assert result.connected == 8
    assert result.games > 0
    assert result.round_trips > result.games
    assert 0.9 < result.elapsed < 1.5
    lat = result.latency_ms()
    assert lat["p50"] is not None and lat["max"] is not None
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]  # type: ignore[operator]
    assert result.client_cpu_us_per_round_trip is not None
    assert "running" in seen


def test_large_range_and_idle_connections(sound_server: tuple[str, int]) -> None:
    host, port = sound_server
    result = run_bench(
        BenchConfig(
            host=host,
            port=port,
            connections=12,
            playing=3,
            duration=0.7,
            lower=-(2**63),
            upper=2**63 - 1,
        )
    )
    # Every guess is checked against the full signed 64-bit range.
    assert result.errors == 0, result.errors_by_kind
    assert result.connected == 12
    assert result.round_trips > 0


def _run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), IO(stdin=io.StringIO(), stdout=out, stderr=err))
    return status, out.getvalue(), err.getvalue()


def test_cli_json_has_the_fixed_keys(sound_server: tuple[str, int]) -> None:
    host, port = sound_server
    status, out, err = _run_cli(
        "bench", "--host", host, "--port", str(port), "-c", "5", "-d", "1", "--lang", "en", "--json"
    )
    assert status == 0, err
    data = json.loads(out)  # exactly one JSON object
    assert set(data) >= FIXED_KEYS
    assert data["connections"] == 5
    assert data["errors"] == 0
    assert data["games"] > 0
    assert set(data["number_latency_ms"]) == {"p50", "p90", "p99", "max"}
    assert data["round_trips_per_s"] == pytest.approx(
        data["round_trips"] / data["duration_s"], rel=0.01
    )


def test_cli_procs_2_merges_the_workers(sound_server: tuple[str, int]) -> None:
    host, port = sound_server
    status, out, err = _run_cli(
        "bench", "--port", str(port), "-c", "6", "-d", "1", "--procs", "2", "--json"
    )
    assert status == 0, err
    data = json.loads(out)
    assert data["procs"] == 2 and data["connected"] == 6
    assert data["errors"] == 0 and data["games"] > 0
    assert data["number_latency_ms"]["p50"] > 0


def test_cli_plain_output_and_exit_status_1_on_errors(
    broken: Callable[[Reply], BrokenServer],
) -> None:
    server = broken(BROKEN["out-of-range"][0])
    status, out, err = _run_cli("bench", "--port", str(server.port), "-c", "2", "-d", "0.5")
    assert status == 1
    assert "round trips" in out and "out-of-range" in out
    assert err == ""


def test_cli_exit_status_2_when_nothing_answers() -> None:
    with BrokenServerPort() as port:
        status, out, err = _run_cli("bench", "--port", str(port), "-d", "0.5")
    assert status == 2
    assert out == ""
    assert err.startswith("guessgame: cannot connect to 127.0.0.1:") and err.count("\n") == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["--lower", "5", "--upper", "1"],
        ["-c", "2", "--playing", "3"],
        ["-c", "2", "--procs", "3"],
        ["-d", "0"],
    ],
)
def test_cli_usage_errors(argv: list[str]) -> None:
    status, out, err = _run_cli("bench", *argv)
    assert status == 2
    assert "Traceback" not in err and err


# -- the pieces ----------------------------------------------------------------


class _FakeTransport:
    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def get_extra_info(self, name: str) -> None:
        return None

    def abort(self) -> None:
        pass


def test_inline_judge_agrees_with_judge() -> None:
    worker = _Worker(BenchConfig(lower=1, upper=1000), 1, 1)
    worker.running = True
    tokens = {
        worker.warmer: Decision.WARMER,
        worker.colder: Decision.COLDER,
        worker.unsure: Decision.UNSURE,
        worker.next_game: Decision.CORRECT,
    }
    rng = random.Random(7)
    for _ in range(200):
        client = _Client(worker, True)
        transport = _FakeTransport()
        client.tr = transport  # type: ignore[assignment]
        client.new_game(worker.first_game)
        judge = Judge(client.secret)
        for guess in rng.sample(range(1, 1001), 30):
            transport.written.clear()
            client.data_received(b"%d\n" % guess)
            expected = judge.judge(guess)
            assert tokens[transport.written[-1]] is expected
            if expected is Decision.CORRECT:
                break
    assert worker.errors == {}


def test_replies_split_across_reads_are_framed() -> None:
    worker = _Worker(BenchConfig(lower=1, upper=100), 1, 1)
    worker.running = True
    client = _Client(worker, True)
    client.tr = _FakeTransport()  # type: ignore[assignment]
    client.new_game(worker.first_game)
    client.secret = 100
    for chunk in (b"4", b"2\r", b"\n"):
        client.data_received(chunk)
    assert worker.round_trips == 1 and client.guessed == {42}
    assert worker.errors == {}


def test_latency_histogram_is_precise_and_percentiles_merge() -> None:
    for ns in (1, 999, 1024, 123_456, 987_654_321):
        assert 0 <= ns - _bucket(ns) <= ns / 500
    a = {_bucket(n * 1000): 1 for n in range(1, 51)}  # 1..50 us
    b = {_bucket(n * 1000): 1 for n in range(51, 101)}  # 51..100 us
    merged = {k: a.get(k, 0) + b.get(k, 0) for k in a.keys() | b.keys()}
    assert _percentile(merged, 0.5) == pytest.approx(0.050, rel=0.01)
    assert _percentile(merged, 0.99) == pytest.approx(0.099, rel=0.01)
    assert _percentile({}, 0.5) is None
