"""The limits over loopback, on both backends: --max-guesses, --max-per-address
(with and without the PROXY protocol, counted in the metrics by reason),
many lines in one read answered in turns, and a client that never reads.

What floods do to memory and to other players' round trips is measured
against server subprocesses in ``tests/test_reliability.py`` (the ``limits``
group of ``reliability/run.py``)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any

from conftest import IO_TIMEOUT, LineSocket
from guessgame.metrics import Metrics
from guessgame.protocol import Decision
from guessgame.records import GameRecord, Outcome


def served(address: tuple[str, int], header: bytes = b"") -> LineSocket | None:
    """A connection the server serves, or None after ``ERROR busy`` and close."""
    s = LineSocket(address)
    s.send(header)
    reply = s.ask("NUMBER")
    if reply.startswith("ERROR busy "):
        assert s.is_closed_by_server()
        s.close()
        return None
    assert reply.startswith("ERROR no-game "), reply
    return s


def proxy_v1(source: str, port: int) -> bytes:
    return f"PROXY TCP4 {source} 127.0.0.1 40000 {port}\r\n".encode()


def test_max_guesses_over_the_wire(server: Any) -> None:
    srv = server(strategy="random", max_guesses=3)
    with LineSocket(srv.address) as s:
        s.sendline("PARAMS 1 1000")
        guesses = [int(s.ask("NUMBER")) for _ in range(3)]
        assert s.ask("NUMBER").startswith("ERROR too-many-guesses ")
        s.sendline("REPORT Unsure")
        assert s.ask("REPORT Unsure").startswith("ERROR no-guess ")
        assert s.ask("NUMBER").startswith("ERROR too-many-guesses ")
        s.sendline("CLEAR")
        assert s.ask("NUMBER").startswith("ERROR no-game ")
    (record,) = srv.wait_for_records(1)
    assert record.outcome is Outcome.ABANDONED
    assert record.guesses == [(g, None) for g in guesses[:2]] + [(guesses[2], Decision.UNSURE)]


def test_many_lines_in_one_read_are_all_answered(server: Any) -> None:
    srv = server(strategy="random")
    with LineSocket(srv.address) as s:
        s.send(b"PARAMS 1 1000000\n" + b"NUMBER\n" * 900 + b"FOO\n" * 300)
        replies = [s.recvline() for _ in range(1200)]
    numbers = {int(r) for r in replies[:900]}
    assert len(numbers) == 900
    assert all(r.startswith("ERROR unknown-command ") for r in replies[900:])


def test_max_per_address(server: Any) -> None:
    srv = server(max_per_address=2, max_connections=3)
    metrics = srv.hub.metrics = Metrics("smart")
    first, second = served(srv.address), served(srv.address)
    assert first is not None and second is not None
    with LineSocket(srv.address) as s:
        line = s.recvline()
        assert line.startswith("ERROR busy ") and "from your address" in line
        assert s.is_closed_by_server()
    first.close()
    deadline = time.monotonic() + IO_TIMEOUT
    while (again := served(srv.address)) is None:  # the slot comes back
        assert time.monotonic() < deadline, "the address never got its slot back"
        time.sleep(0.05)
    assert metrics.connections_refused["max-per-address"] >= 1
    assert metrics.connections_refused["max-connections"] == 0
    again.close()
    second.close()


def test_the_global_limit_is_counted_apart(server: Any) -> None:
    srv = server(max_per_address=5, max_connections=2)
    metrics = srv.hub.metrics = Metrics("smart")
    held = [served(srv.address), served(srv.address)]
    assert None not in held
    with LineSocket(srv.address) as s:
        line = s.recvline()
        assert line.startswith("ERROR busy ") and "from your address" not in line
    assert metrics.connections_refused == {
        "max-connections": 1,
        "max-per-address": 0,
        "stopping": 0,
    }
    for conn in held:
        assert conn is not None
        conn.close()


def test_the_proxy_header_names_the_address_that_counts(server: Any) -> None:
    srv = server(max_per_address=2, proxy_protocol=True)
    metrics = srv.hub.metrics = Metrics("smart")
    port = srv.port
    # Through one balancer: two players from one address, one from another.
    a1 = served(srv.address, proxy_v1("203.0.113.1", port))
    a2 = served(srv.address, proxy_v1("203.0.113.1", port))
    b1 = served(srv.address, proxy_v1("203.0.113.2", port))
    assert None not in (a1, a2, b1)
    with LineSocket(srv.address) as s:
        s.send(proxy_v1("203.0.113.1", port))
        assert s.recvline().startswith("ERROR busy ")
        assert s.is_closed_by_server()
    assert metrics.connections_refused["max-per-address"] == 1
    # A header without an address (a health check) counts under the socket's.
    checks = [served(srv.address, b"PROXY UNKNOWN\r\n") for _ in range(3)]
    assert [c is not None for c in checks] == [True, True, False]
    for conn in (a1, a2, b1, *checks):
        if conn is not None:
            conn.close()


def test_a_client_that_never_reads_stalls_only_itself(server: Any) -> None:
    srv = server(strategy="random")
    flood = socket.create_connection(srv.address, timeout=IO_TIMEOUT)
    flood.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    flood.settimeout(0.5)
    sent = 0
    chunk = b"PARAMS 1 100\n" + b"NUMBER\nCLEAR\nPARAMS 1 100\n" * 10_000
    with contextlib.suppress(TimeoutError):  # the server stopped reading it
        while sent < 50 * 2**20:
            sent += flood.send(chunk)
    # Its replies fill the buffers (ours, the kernel's both ways), then no more.
    assert sent < 4 * 2**20, "the server kept reading a client that never reads"
    with LineSocket(srv.address) as s:
        for _ in range(20):
            assert s.ask("PARAMS 5 5\nNUMBER") == "5"
    flood.close()


def test_the_log_of_finished_games_is_bounded(caplog: Any) -> None:
    """A stalled stderr must not grow the server: the oldest lines go, and
    the next batch says how many."""
    from guessgame.records import Guesses
    from guessgame.server import GameLog

    log = GameLog(max_pending=5)
    record = GameRecord(1, 5, "smart", "asyncio", "?", 0.0, 1.0, Outcome.WON, Guesses())
    caplog.set_level("INFO", logger="guessgame.games")
    log._writer = threading.current_thread()  # no writer thread: flushed here
    for conn_id in range(12):
        log.add(conn_id, record)
    log.flush()
    messages = [r.getMessage() for r in caplog.records]
    assert "the log of finished games fell behind: 7 lines dropped" in messages
    lines = next(m for m in messages if "conn" in m).splitlines()
    assert [line.split()[3] for line in lines] == ["7", "8", "9", "10", "11"]


def test_refusals_are_exposed_by_reason() -> None:
    import prometheus_client  # the metrics extra, part of the test extra

    metrics = Metrics("smart")
    metrics.connection_refused("max-per-address")
    metrics.connection_refused("max-per-address")
    metrics.connection_refused("max-connections")
    registry = prometheus_client.CollectorRegistry(auto_describe=False)
    registry.register(metrics)
    text = prometheus_client.generate_latest(registry).decode()
    assert 'guessgame_connections_refused_total{reason="max-per-address"} 2.0' in text
    assert 'guessgame_connections_refused_total{reason="max-connections"} 1.0' in text
    assert 'guessgame_connections_refused_total{reason="stopping"} 0.0' in text
