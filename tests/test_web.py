"""The web shell over loopback, on both backends, with a Python WebSocket
client: games, the error table as TCP answers it, framing, limits shared
with TCP, the store and the metrics, the page's files, origins, stopping,
workers. The page itself in a browser: ``tests/test_web_browser.py``."""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import re
import socket
import struct
import subprocess
import sys
import time
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.sync.client import ClientConnection, connect

from conftest import BACKENDS, IO_TIMEOUT, LineSocket, ServerProcess
from guessgame.judge import Judge
from guessgame.metrics import Metrics
from guessgame.protocol import DEFAULT_MAX_LINE, Decision, Lang
from guessgame.records import Outcome
from guessgame.server import (
    MAX_HANDSHAKES,
    MAX_HANDSHAKES_PER_ADDRESS,
    MAX_LINGERING_REFUSALS,
    Backend,
    ServerConfig,
    ServerHub,
)
from guessgame.server_asyncio import AsyncioServer
from guessgame.server_threads import ThreadedServer
from guessgame.server_web import CONTENT_SECURITY_POLICY, WEB_BACKEND
from guessgame.store import NullStore
from test_servers import ERROR_TABLE

_WEB_LINE = re.compile(r"web page at http://(\S+):(\d+)/")


class WebLines:
    """A WebSocket speaking protocol lines, every wait bounded."""

    def __init__(self, address: tuple[str, int], path: str = "/ws", **kwargs: Any) -> None:
        host, port = address
        self._stack = contextlib.ExitStack()
        self.ws: ClientConnection = self._stack.enter_context(
            connect(f"ws://{host}:{port}{path}", open_timeout=IO_TIMEOUT, close_timeout=1, **kwargs)
        )

    def __enter__(self) -> WebLines:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stack.close()

    def send(self, *lines: str | bytes) -> None:
        for line in lines:
            self.ws.send(line)

    def recv(self) -> str:
        message = self.ws.recv(timeout=IO_TIMEOUT)
        assert isinstance(message, str), message
        return message

    def ask(self, *lines: str | bytes) -> str:
        self.send(*lines)
        return self.recv()

    def closed_with(self) -> int | None:
        """The close code once the server closed (fails if it does not)."""
        try:
            extra = self.ws.recv(timeout=IO_TIMEOUT)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd is not None else None
        raise AssertionError(f"still open; got {extra!r}")


def web(srv: Any) -> tuple[str, int]:
    address = srv.backend.web_address
    assert address is not None
    return (address[0], address[1])


def play(ws: WebLines, lower: int, upper: int, secret: int, lang: Lang = Lang.EN) -> int:
    """An honest game to its end; the number of guesses."""
    judge = Judge(secret)
    ws.send(f"PARAMS {lower} {upper}")
    guesses = 0
    while True:
        guess = int(ws.ask("NUMBER"))
        guesses += 1
        decision = judge.judge(guess)
        ws.send(f"REPORT {decision.token(lang)}")
        if decision is Decision.CORRECT:
            return guesses


def get(address: tuple[str, int], path: str, **headers: str) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection(*address, timeout=IO_TIMEOUT)
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


# -- games --------------------------------------------------------------------


@pytest.mark.parametrize("lang", list(Lang))
def test_a_whole_game_is_played_and_recorded(server: Any, lang: Lang) -> None:
    srv = server(web_port=0)
    with WebLines(web(srv)) as ws:
        count = play(ws, 1, 1000, 777, lang)
        assert count <= 12  # floor(log2 3000) + 1
        assert ws.ask("NUMBER") == "777"  # the secret again, as on TCP
    [record] = srv.wait_for_records(1)
    assert record.outcome is Outcome.WON
    assert record.backend == WEB_BACKEND and record.strategy == "smart"
    assert (record.lower, record.upper, len(record.guesses)) == (1, 1000, count)
    assert record.guesses[-1] == (777, Decision.CORRECT)
    assert record.peer.startswith("127.0.0.1:")


def test_a_strategy_per_connection(server: Any) -> None:
    srv = server(web_port=0)
    with WebLines(web(srv), "/ws?strategy=random") as ws:
        play(ws, 1, 30, 17)
    with WebLines(web(srv), "/ws?strategy=smart") as ws:
        play(ws, 1, 30, 17)
    with WebLines(web(srv)) as ws:  # the server's own
        play(ws, 1, 30, 17)
    records = srv.wait_for_records(3)
    assert [r.strategy for r in records] == ["random", "smart", "smart"]
    with pytest.raises(InvalidStatus) as refused:
        WebLines(web(srv), "/ws?strategy=psychic")
    assert refused.value.response.status_code == 400


@pytest.mark.parametrize("setup,bad,code", ERROR_TABLE, ids=[c for _, _, c in ERROR_TABLE])
def test_error_table_as_tcp_answers_it(
    server: Any, setup: list[str], bad: str | bytes, code: str
) -> None:
    """Every error of SPEC section 1, line for line as the TCP port answers."""
    srv = server(strategy="smart", web_port=0)
    if isinstance(bad, bytes):  # not UTF-8: no text message can carry it
        bad_message: str | bytes = bad  # sent as a binary message
    else:
        bad_message = bad
    with WebLines(web(srv)) as ws, LineSocket(srv.address) as tcp:
        for line in setup:
            if line.endswith("*"):
                assert ws.ask(line[:-1]) == tcp.ask(line[:-1])
            else:
                ws.send(line)
                tcp.sendline(line)
        reply = ws.ask(bad_message)
        tcp.send(bad if isinstance(bad, bytes) else bad.encode())
        tcp.send(b"\n")
        assert reply.split()[:2] == tcp.recvline().split()[:2] == ["ERROR", code]
        # Usable still, in the same state.
        if any(x.startswith("PARAMS") for x in setup) and code != "no-candidates":
            assert ws.ask("NUMBER") == tcp.ask("NUMBER")
        assert ws.ask("PARAMS 6 6", "NUMBER") == "6"
        assert ws.ask("REPORT Correct", "NUMBER") == "6"


def test_a_peer_that_closes_abandons_its_game_and_one_that_resets_fails_it(
    server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """As on TCP: a close (here a close frame) abandons the game; a reset is
    an error, logged as one line with the connection's id."""
    srv = server(web_port=0)
    caplog.set_level(logging.WARNING, logger="guessgame.server")
    with WebLines(web(srv)) as ws:
        ws.send("PARAMS 1 9")
        assert ws.ask("NUMBER").isdigit()
    [closed] = srv.wait_for_records(1)
    assert closed.outcome is Outcome.ABANDONED
    with WebLines(web(srv)) as ws:
        ws.send("PARAMS 1 9")
        assert ws.ask("NUMBER").isdigit()
        sock = ws.ws.socket
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # an RST, no close frame
    reset = srv.wait_for_records(2)[1]
    assert reset.outcome is Outcome.ERROR
    deadline = time.monotonic() + IO_TIMEOUT
    while not any("reset" in r.getMessage() for r in caplog.records):
        assert time.monotonic() < deadline, [r.getMessage() for r in caplog.records]
        time.sleep(0.02)
    assert re.search(r"conn \d+ \S+: .*reset", caplog.text)


def test_the_guess_cap_holds_over_the_websocket(server: Any) -> None:
    srv = server(web_port=0, max_guesses=3)
    with WebLines(web(srv)) as ws:
        ws.send("PARAMS 1 1000")
        guesses = [int(ws.ask("NUMBER")) for _ in range(3)]
        assert ws.ask("NUMBER").startswith("ERROR too-many-guesses ")
        assert len(set(guesses)) == 3
        ws.send("PARAMS 1 1")  # a new game, a new count
        assert ws.ask("NUMBER") == "1"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_web_port_in_use_leaves_the_tcp_port_free(backend: str) -> None:
    """run() raises, and the TCP port it had bound is closed again."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = ServerConfig(
        host="127.0.0.1", port=port, backend=Backend(backend), web_port=taken.getsockname()[1]
    )
    hub = ServerHub(config, NullStore())
    impl = ThreadedServer(hub) if config.backend is Backend.THREADS else AsyncioServer(hub)
    try:
        with pytest.raises(OSError) as raised:
            impl.run(handle_signals=False)
    finally:
        taken.close()
    # Closed, not left to the garbage collector: the error, held here as a
    # caller holds it while it reports it, keeps run()'s frames alive.
    assert raised.traceback
    with socket.socket() as again:
        again.bind(("127.0.0.1", port))


def test_binary_and_multiline_messages_change_nothing(server: Any) -> None:
    srv = server(web_port=0)
    with WebLines(web(srv)) as ws:
        ws.send("PARAMS 1 5")
        first = ws.ask("NUMBER")
        assert ws.ask(b"REPORT Unsure").startswith("ERROR bad-encoding ")
        assert ws.ask("REPORT Unsure\nNUMBER").startswith("ERROR bad-encoding ")
        assert ws.ask("NUMBER\n").startswith("ERROR bad-encoding ")
        # The guess is still unreported: the game is where it was.
        ws.send("REPORT Unsure")
        assert ws.ask("NUMBER") != first
        ws.send("")  # an empty line: ignored silently, no reply
        assert ws.ask("PARAMS 2 2", "NUMBER") == "2"


@pytest.mark.parametrize("size", [DEFAULT_MAX_LINE, DEFAULT_MAX_LINE + 1])
def test_a_message_at_and_over_max_line(server: Any, size: int) -> None:
    srv = server(web_port=0)
    with WebLines(web(srv)) as ws:
        ws.send("PARAMS 3 3")
        assert ws.ask("NUMBER") == "3"
        # ASCII spaces after a command word: one line of exactly `size` bytes.
        ws.send("CLEAR" + " " * (size - 5))
        reply = ws.ask("NUMBER")
        if size <= DEFAULT_MAX_LINE:
            assert reply.startswith("ERROR no-game ")  # CLEAR worked, silently
            return
        assert reply.startswith("ERROR line-too-long ")
        assert ws.closed_with() == 1009
    [record] = srv.wait_for_records(1)
    assert record.outcome is Outcome.ERROR


def test_a_message_far_over_max_line_is_refused_by_the_websocket_layer(server: Any) -> None:
    srv = server(web_port=0)
    with WebLines(web(srv)) as ws:
        ws.send("x" * 100_000)
        code = ws.closed_with()
    assert code == 1009
    with WebLines(web(srv)) as ws:  # the server goes on
        assert ws.ask("PARAMS 4 4", "NUMBER") == "4"


def test_multibyte_lines_count_in_bytes(server: Any) -> None:
    srv = server(web_port=0, max_line=64)
    with WebLines(web(srv)) as ws:
        assert ws.ask("X " + "맞" * 20).startswith("ERROR unknown-command ")  # 62 bytes
        assert ws.ask("X " + "맞" * 21).startswith("ERROR line-too-long ")  # 65 bytes
        assert ws.closed_with() == 1009


# -- limits shared with TCP -----------------------------------------------------


def test_idle_timeout(server: Any) -> None:
    srv = server(web_port=0, idle_timeout=0.5)
    with WebLines(web(srv)) as ws:
        ws.send("PARAMS 1 9")
        assert ws.ask("NUMBER").isdigit()
        start = time.monotonic()
        assert ws.closed_with() == 1000
        assert 0.4 <= time.monotonic() - start < 2.5
    [record] = srv.wait_for_records(1)
    assert record.outcome is Outcome.ERROR


def test_max_connections_is_shared_with_tcp(server: Any) -> None:
    srv = server(web_port=0, max_connections=2)
    metrics = srv.hub.metrics = Metrics("smart")
    tcp = LineSocket(srv.address)
    assert tcp.ask("NUMBER").startswith("ERROR no-game ")
    ws = WebLines(web(srv))
    assert ws.ask("NUMBER").startswith("ERROR no-game ")
    # Full: a third connection is turned away on either transport.
    with WebLines(web(srv)) as third:
        assert third.recv().startswith("ERROR busy ")
        assert third.closed_with() == 1013
    with LineSocket(srv.address) as third_tcp:
        assert third_tcp.recvline().startswith("ERROR busy ")
    assert metrics.connections_refused["max-connections"] == 2
    tcp.close()
    deadline = time.monotonic() + IO_TIMEOUT
    while True:  # the slot comes back for a WebSocket
        with WebLines(web(srv)) as again:
            reply = again.ask("NUMBER")
        if reply.startswith("ERROR no-game "):
            break
        assert time.monotonic() < deadline, "the slot never came back"
        time.sleep(0.05)
    ws.close()


_UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def test_refused_connections_that_never_close_are_bounded(server: Any) -> None:
    """A full server answers busy and waits for the peer's close frame, but
    for at most MAX_LINGERING_REFUSALS connections at once, as TCP lingers:
    past them a refused connection is dropped at once."""
    srv = server(web_port=0, max_connections=1)
    holder = LineSocket(srv.address)
    assert holder.ask("NUMBER").startswith("ERROR no-game ")
    refused: list[socket.socket] = []
    busy = 0
    try:
        for _ in range(MAX_LINGERING_REFUSALS + 8):
            sock = socket.create_connection(web(srv), timeout=IO_TIMEOUT)
            refused.append(sock)  # never answers the close frame
            sock.sendall(_UPGRADE)
            seen = b""
            with contextlib.suppress(OSError):
                while b"\r\n\r\n" not in seen or (b"busy" not in seen and len(seen) < 4096):
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    seen += chunk
            busy += b"ERROR busy" in seen
        assert busy == MAX_LINGERING_REFUSALS
    finally:
        for sock in refused:
            sock.close()
        holder.close()


def test_max_per_address_is_shared_with_tcp(server: Any) -> None:
    srv = server(web_port=0, max_per_address=1)
    with LineSocket(srv.address) as tcp:
        assert tcp.ask("NUMBER").startswith("ERROR no-game ")
        with WebLines(web(srv)) as ws:
            line = ws.recv()
            assert line.startswith("ERROR busy ") and "your address" in line
            assert ws.closed_with() == 1013


def test_a_proxy_protocol_server_counts_websockets_by_their_socket(server: Any) -> None:
    """No PROXY header comes over a WebSocket: it plays at once, and the
    per-address limit counts it under its socket's address."""
    srv = server(web_port=0, proxy_protocol=True, max_per_address=1)
    with WebLines(web(srv)) as ws:
        assert ws.ask("PARAMS 5 5", "NUMBER") == "5"
        with WebLines(web(srv)) as second:
            assert second.recv().startswith("ERROR busy ")


def test_metrics_count_web_games(server: Any) -> None:
    srv = server(web_port=0)
    metrics = srv.hub.metrics = Metrics("smart")
    with WebLines(web(srv)) as ws:
        play(ws, 1, 100, 5)
        assert ws.ask("NUMBER 1").startswith("ERROR bad-params ")
    srv.wait_for_records(1)
    assert metrics.connections_total == 1
    assert metrics.games_started == 1
    assert metrics.games_ended[Outcome.WON] == 1
    assert sum(metrics.latency_counts) >= 1
    assert sum(metrics.errors.values()) == 1


def test_a_flood_of_messages_does_not_starve_a_player(server: Any) -> None:
    """One connection sends lines as fast as it can and never reads; another
    plays meanwhile, each round trip in milliseconds; the flooder stops
    being read once its unread replies fill the buffers."""
    srv = server(web_port=0, strategy="random")
    flood = socket.socket()
    # Small buffers of its own: what it sent but the server did not take
    # stays countable, and the replies it leaves unread fill up soon.
    flood.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    flood.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
    flood.settimeout(IO_TIMEOUT)
    flood.connect(web(srv))
    flood.sendall(_UPGRADE)
    assert flood.recv(4096).startswith(b"HTTP/1.1 101")
    frame = bytes([0x81, 0x80 | 6]) + b"\0\0\0\0" + b"NUMBER"  # masked with zeros
    burst = (bytes([0x81, 0x80 | 12]) + b"\0\0\0\0" + b"PARAMS 1 1e9"[:12]) + frame * 2000
    flood.settimeout(0.2)
    slowest = 0.0
    sent = 0
    stalled = 0
    with WebLines(web(srv)) as player:
        for _ in range(200):
            try:
                sent += flood.send(burst)
                stalled = 0
            except TimeoutError:  # the server stopped reading it
                stalled += 1
            start = time.monotonic()
            assert player.ask("PARAMS 7 7", "NUMBER") == "7"
            player.send("REPORT Correct")
            slowest = max(slowest, time.monotonic() - start)
            if stalled == 3:
                break
    flood.close()
    assert slowest < 0.5, slowest
    # It was served in turns, and stopped being read once it stopped reading:
    # its unread replies (about 6 bytes of ERROR for every byte it sends)
    # fill the library's write buffer (16 KB), then the kernel's both ways.
    assert stalled == 3, f"still read after {sent:,} bytes"
    assert sent < 512 * 1024, sent


def _connect_from(host: str, address: tuple[str, int]) -> socket.socket:
    """A TCP connection to ``address`` from the loopback address ``host``."""
    sock = socket.socket()
    sock.settimeout(IO_TIMEOUT)
    sock.bind((host, 0))
    sock.connect(address)
    return sock


def _closed_at_once(sock: socket.socket) -> bool:
    sock.settimeout(0.5)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    finally:
        sock.close()


def test_connections_that_never_finish_the_handshake_are_bounded(server: Any) -> None:
    """At most MAX_HANDSHAKES connections may sit in their opening handshake,
    MAX_HANDSHAKES_PER_ADDRESS from one client address; one more is closed at
    once, other addresses are still served, and the port serves again once
    they go."""
    srv = server(web_port=0)
    address = web(srv)
    stalled = [_connect_from("127.0.0.2", address) for _ in range(MAX_HANDSHAKES_PER_ADDRESS)]
    try:
        # One address at its bound: its next connection goes, others play.
        deadline = time.monotonic() + IO_TIMEOUT
        while not _closed_at_once(_connect_from("127.0.0.2", address)):
            assert time.monotonic() < deadline, "a connection over the address's bound was kept"
        with WebLines(address) as ws:
            assert ws.ask("PARAMS 3 3", "NUMBER") == "3"
        # Every slot taken, from several addresses: anyone's next one goes.
        hosts = [f"127.0.0.{i}" for i in range(3, 3 + MAX_HANDSHAKES // MAX_HANDSHAKES_PER_ADDRESS)]
        stalled += [
            _connect_from(host, address)
            for host in hosts
            for _ in range(MAX_HANDSHAKES_PER_ADDRESS)
        ]
        deadline = time.monotonic() + IO_TIMEOUT
        while not _closed_at_once(_connect_from("127.0.0.1", address)):
            assert time.monotonic() < deadline, "a connection over the bound was kept"
    finally:
        for s in stalled:
            s.close()
    deadline = time.monotonic() + IO_TIMEOUT
    while True:
        try:
            with WebLines(address) as ws:
                assert ws.ask("PARAMS 4 4", "NUMBER") == "4"
            break
        except (WebSocketException, OSError):
            assert time.monotonic() < deadline, "the web port never served again"
            time.sleep(0.05)


# -- HTTP: the page's files, origins, paths -------------------------------------


def test_the_page_and_its_files(server: Any) -> None:
    srv = server(web_port=0)
    page = get(web(srv), "/")
    assert page.status == 200
    assert page.getheader("Content-Type") == "text/html; charset=utf-8"
    assert page.getheader("Content-Security-Policy") == CONTENT_SECURITY_POLICY
    assert page.getheader("X-Content-Type-Options") == "nosniff"
    for path, kind in [("/app.js", "text/javascript"), ("/search.js", "text/javascript")]:
        response = get(web(srv), path)
        assert response.status == 200 and response.getheader("Content-Type", "").startswith(kind)
    assert get(web(srv), "/style.css").getheader("Content-Type", "").startswith("text/css")


@pytest.mark.parametrize(
    "path",
    [
        "/nothing",
        "/../pyproject.toml",
        "/%2e%2e/%2e%2e/etc/passwd",
        "//etc/passwd",
        "/web/app.js",
        "/server_web.py",
        "/__init__.py",
        "/index.html/",
        "/ws/",
    ],
)
def test_other_paths_are_not_found(server: Any, path: str) -> None:
    srv = server(web_port=0)
    assert get(web(srv), path).status == 404


def test_another_origin_is_refused(server: Any) -> None:
    srv = server(web_port=0)
    host, port = web(srv)
    assert get((host, port), "/", Origin="http://evil.example").status == 403
    # Two Origin headers: which one counts is anyone's guess, so neither does.
    conn = http.client.HTTPConnection(host, port, timeout=IO_TIMEOUT)
    conn.putrequest("GET", "/")
    conn.putheader("Origin", f"http://{host}:{port}")
    conn.putheader("Origin", "http://evil.example")
    conn.endheaders()
    assert conn.getresponse().status == 400
    conn.close()
    with pytest.raises(InvalidStatus) as refused:
        WebLines((host, port), origin="http://evil.example")  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus):
        WebLines((host, port), origin=f"http://{host}:{port + 1}")  # type: ignore[arg-type]
    # The page's own origin, and a script that sends none, are served.
    with WebLines((host, port), origin=f"http://{host}:{port}") as ws:  # type: ignore[arg-type]
        assert ws.ask("PARAMS 1 1", "NUMBER") == "1"
    with WebLines((host, port)) as ws:
        assert ws.ask("PARAMS 1 1", "NUMBER") == "1"


# -- the command line: stopping, ports, workers -------------------------------------


def web_address(proc: ServerProcess) -> tuple[str, int]:
    deadline = time.monotonic() + IO_TIMEOUT
    while time.monotonic() < deadline:
        for line in proc.stderr_all:
            match = _WEB_LINE.search(line)
            if match:
                return match.group(1), int(match.group(2))
        time.sleep(0.02)
    raise AssertionError(f"no web address logged: {proc.stderr_all}")


def stats(db: Any) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "guessgame", "stats", "--db", str(db), "--json"],
        capture_output=True,
        timeout=30,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_sigterm_with_a_websocket_game_in_flight(
    spawn_server: Any, backend: str, tmp_path: Any
) -> None:
    db = tmp_path / "games.sqlite3"
    proc: ServerProcess = spawn_server(
        "--port", "0", "--web-port", "0", "--db", str(db), "--backend", backend
    )
    address = web_address(proc)
    playing = WebLines(address)
    playing.send("PARAMS 1 1000")
    judge = Judge(500)
    guess = int(playing.ask("NUMBER"))
    with WebLines(address) as idle:
        assert idle.ask("NUMBER").startswith("ERROR no-game ")
        proc.terminate()
        assert idle.closed_with() == 1001  # no game: closed at once
    with pytest.raises(OSError):
        WebLines(address)  # no longer accepting
    with playing:  # the game in flight plays to its end
        while (decision := judge.judge(guess)) is not Decision.CORRECT:
            playing.send(f"REPORT {decision.token(Lang.EN)}")
            guess = int(playing.ask("NUMBER"))
        playing.send("REPORT Correct", "PARAMS 0 -1")
        assert playing.closed_with() == 1001  # its game over, it is closed too
    assert proc.wait() == 0
    log = "\n".join(proc.stderr_all)
    assert "Traceback" not in log and "game 1..1000 won" in log
    summary = stats(db)
    assert summary["wins"] == 1 and summary["by_backend"][WEB_BACKEND]["wins"] == 1


@pytest.mark.slow
def test_sigterm_records_a_stalled_websocket_game(spawn_server: Any, tmp_path: Any) -> None:
    db = tmp_path / "games.sqlite3"
    proc: ServerProcess = spawn_server(
        "--port", "0", "--web-port", "0", "--db", str(db), "--grace", "0.5"
    )
    with WebLines(web_address(proc)) as stalled:
        assert stalled.ask("PARAMS 1 100", "NUMBER").isdigit()
        proc.terminate()
        assert stalled.closed_with() == 1001
    assert proc.wait() == 0
    assert stats(db)["abandoned"] == 1


@pytest.mark.parametrize("workers", [1, 2])
def test_a_web_port_in_use_is_one_line(workers: int) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "guessgame", "serve", "--port", "0", "--no-db"]
            + ["--web-port", str(port), "--workers", str(workers)],
            capture_output=True,
            timeout=30,
        )
    assert done.returncode == 2
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert f"127.0.0.1:{port}" in lines[0] and "in use" in lines[0]


@pytest.mark.slow
def test_every_worker_serves_the_web_port(spawn_server: Any) -> None:
    proc: ServerProcess = spawn_server("--port", "0", "--web-port", "0", "--workers", "2")
    address = web_address(proc)
    for _ in range(16):
        with WebLines(address) as ws:
            play(ws, 1, 50, 20)
        assert get(address, "/").status == 200
    proc.terminate()
    assert proc.wait() == 0
    log = "\n".join(proc.stderr_all)
    assert "Traceback" not in log
    # The conn ids are prefixed by the worker that served them: both did.
    served_by = set(re.findall(r"conn (\d+)\.\d+ ", log))
    assert served_by == {"1", "2"}, log
