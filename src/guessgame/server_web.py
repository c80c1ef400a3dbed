"""The web shell: the page over HTTP and the game over a WebSocket (``/ws``).

A third shell beside the asyncio and threaded ones, on the websockets
library's asyncio server (which also answers the plain HTTP requests of the
page). Each text message is one protocol line for the same
:class:`~guessgame.game.ServerConnection` (:meth:`~ServerConnection.receive_message`),
each reply line goes back as one text message; the hub holds the limits it
shares with TCP, records the games (backend ``web``) and counts them.

Limits: at most :data:`~guessgame.server.MAX_HANDSHAKES` connections may be
in their opening handshake at once (new ones are closed); a message over
``4 * --max-line`` bytes is refused by the WebSocket
layer (close code 1009), a shorter one over ``--max-line`` by the core
(``line-too-long``); at most :data:`MAX_QUEUE` frames wait to be read
before the connection stops being read, and at most :data:`WRITE_HIGH_WATER`
bytes of replies before the connection stops being served; the kernel's
buffers are those of TCP connections. Fair turns: the handler gives way to
the other connections every :data:`~guessgame.game.TURN_LINES` messages.

The asyncio backend runs this shell on its own event loop; the threaded
backend, which has none, runs it on a loop in a thread of its own
(:class:`WebThread`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import http
import logging
import socket
import threading
from importlib import resources
from time import perf_counter
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, serve
from websockets.asyncio.server import ServerConnection as WebSocket
from websockets.datastructures import Headers, MultipleValuesError
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.http11 import Request, Response

from .game import TURN_LINES, GameConfig, ServerConnection
from .loops import loop_factory
from .records import Outcome
from .server import (
    MAX_HANDSHAKES,
    MAX_HANDSHAKES_PER_ADDRESS,
    MAX_LINGERING_REFUSALS,
    IdleWatch,
    Refused,
    ServerHub,
    count_down,
    describe_oserror,
    log_idle,
)
from .strategies import STRATEGIES

__all__ = ["WEB_BACKEND", "WebListener", "WebThread", "static_files"]

log = logging.getLogger("guessgame.server")

#: What the store records as the backend of a game played over the WebSocket.
WEB_BACKEND = "web"
#: Incoming frames buffered before the connection stops being read (the
#: library pauses reading above it and resumes below a quarter of it).
MAX_QUEUE = 16
#: Unsent reply bytes above which the handler waits for the peer to read
#: (the TCP shells' write high-water mark).
WRITE_HIGH_WATER = 16 * 1024
#: Seconds the opening handshake and the closing one may take.
HANDSHAKE_TIMEOUT = 5.0
CLOSE_TIMEOUT = 2.0

_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}
#: Everything the page loads comes from this server; nothing runs inline.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

# The library logs every connection at INFO and a bug with its traceback:
# keep warnings only, each one line.
_ws_log = logging.getLogger("guessgame.websockets")
_ws_log.setLevel(logging.WARNING)


class _OneLine(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info:
            exc = record.exc_info[1]
            record.msg = f"{record.getMessage()}: {exc!r}"
            record.args = None
            record.exc_info = None
        return True


_ws_log.addFilter(_OneLine())


def static_files() -> dict[str, tuple[bytes, str]]:
    """The page's files by URL path, with their content types, read once
    from the package. Only these paths are served: nothing is looked up
    on disk per request, so no path can lead anywhere else."""
    files: dict[str, tuple[bytes, str]] = {}
    for entry in resources.files("guessgame").joinpath("web").iterdir():
        suffix = entry.name[entry.name.rfind(".") :]
        if entry.is_file() and suffix in _CONTENT_TYPES:
            files["/" + entry.name] = (entry.read_bytes(), _CONTENT_TYPES[suffix])
    files["/"] = files["/index.html"]
    return files


class WebListener:
    """Serves the page and ``/ws`` from the running event loop."""

    def __init__(self, hub: ServerHub, sock: socket.socket) -> None:
        self.hub = hub
        self.sock = sock
        self.address: tuple[str, int] = sock.getsockname()[:2]
        self.draining = False
        self._files = static_files()
        #: The server's configuration for each strategy a page may ask for.
        self._configs = {
            name: dataclasses.replace(
                hub.game_config, strategy=name, backend=WEB_BACKEND, proxy_protocol=False
            )
            for name in STRATEGIES
        }
        self._live: dict[WebSocket, tuple[int, ServerConnection]] = {}
        #: Connections accepted and not yet handed to the handler (opening
        #: handshakes and requests for the page), at most MAX_HANDSHAKES,
        #: with their client addresses.
        self._handshaking: dict[WebSocket, str] = {}
        #: How many of them come from each client address.
        self._handshaking_from: dict[str, int] = {}
        #: Refused connections in their closing handshake.
        self._refusing = 0
        self._idle: set[WebSocket] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: Server | None = None
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        max_line = self.hub.config.max_line
        self._server = await serve(
            self._handler,
            sock=self.sock,
            process_request=self._http,
            compression=None,
            server_header=None,
            open_timeout=HANDSHAKE_TIMEOUT,
            close_timeout=CLOSE_TIMEOUT,
            ping_interval=None,  # --idle-timeout closes what is silent
            max_size=4 * max_line,
            max_queue=MAX_QUEUE,
            write_limit=WRITE_HIGH_WATER,
            logger=_ws_log,
            create_connection=self._connection_class(),
        )
        self._sweeper = asyncio.create_task(self._sweep_idle())

    def _connection_class(self) -> type[WebSocket]:
        """The library's connection, counted from accept to the handler:
        over :data:`~guessgame.server.MAX_HANDSHAKES` at once, or
        :data:`~guessgame.server.MAX_HANDSHAKES_PER_ADDRESS` from its
        address, a new one is closed at once (the limits of ``hub.open``
        count it from then on)."""
        listener = self

        class Counted(WebSocket):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                super().connection_made(transport)
                if not listener._handshake_begins(self):
                    self.transport.abort()

            def connection_lost(self, exc: Exception | None) -> None:
                listener._handshake_ends(self)
                super().connection_lost(exc)

        return Counted

    def _handshake_begins(self, ws: WebSocket) -> bool:
        """Count ``ws`` as handshaking; False if there is no room for it."""
        host = _host(ws)
        by_address = self._handshaking_from
        if (
            len(self._handshaking) >= MAX_HANDSHAKES
            or by_address.get(host, 0) >= MAX_HANDSHAKES_PER_ADDRESS
        ):
            return False
        self._handshaking[ws] = host
        by_address[host] = by_address.get(host, 0) + 1
        return True

    def _handshake_ends(self, ws: WebSocket) -> None:
        host = self._handshaking.pop(ws, None)
        if host is not None:
            count_down(self._handshaking_from, host)

    # -- HTTP ----------------------------------------------------------------

    def _http(self, ws: WebSocket, request: Request) -> Response | None:
        """The page's files, 403 for another origin, 404 elsewhere; None lets
        the upgrade of ``/ws`` go on."""
        try:
            origin = request.headers.get("Origin")
            host = request.headers.get("Host")
        except MultipleValuesError as exc:
            return _response(http.HTTPStatus.BAD_REQUEST, f"more than one {exc} header\n".encode())
        if origin is not None and not _same_origin(origin, host):
            return _response(http.HTTPStatus.FORBIDDEN, b"another origin is not served\n")
        url = urlsplit(request.path)
        if url.path == "/ws":
            if _strategy_of(url.query, self.hub.config.strategy) not in self._configs:
                names = ", ".join(sorted(STRATEGIES))
                return _response(
                    http.HTTPStatus.BAD_REQUEST, f"unknown strategy; expected {names}\n".encode()
                )
            return None
        found = self._files.get(url.path)
        if found is None:
            return _response(http.HTTPStatus.NOT_FOUND, b"not found\n")
        return _response(http.HTTPStatus.OK, *found)

    # -- the game ------------------------------------------------------------

    async def _handler(self, ws: WebSocket) -> None:
        self._handshake_ends(ws)
        hub = self.hub
        query = urlsplit(ws.request.path if ws.request is not None else "").query
        config: GameConfig = self._configs[_strategy_of(query, hub.config.strategy)]
        try:
            conn_id, conn = hub.open(ws.remote_address, config, stopping=self.draining)
        except Refused as refusal:
            if self._refusing >= MAX_LINGERING_REFUSALS:
                # A flood: keep descriptors for the connections served, as TCP does.
                ws.transport.abort()
                return
            # The busy line and the close handshake, which waits for the
            # peer's close frame (up to the close timeout).
            self._refusing += 1
            try:
                with contextlib.suppress(ConnectionClosed):
                    await ws.send(refusal.line.decode().rstrip("\n"))
                    await ws.close(CloseCode.TRY_AGAIN_LATER, "busy")
            finally:
                self._refusing -= 1
            return
        self._live[ws] = (conn_id, conn)
        metrics = hub.metrics
        outcome = Outcome.ABANDONED
        handled = 0
        try:
            async for message in ws:
                started = perf_counter() if metrics is not None else 0.0
                out = conn.receive_message(message)
                if out:
                    for line in out.decode().split("\n")[:-1]:
                        await ws.send(line)
                    if metrics is not None:
                        metrics.observe_latency(perf_counter() - started)
                if conn.closed:  # line-too-long
                    await ws.close(CloseCode.MESSAGE_TOO_BIG, "line-too-long")
                    break
                if self.draining and not conn.has_game:
                    await ws.close(CloseCode.GOING_AWAY, "server stopping")
                    break
                handled += 1
                if handled % TURN_LINES == 0:
                    await asyncio.sleep(0)  # the other connections' turn
        except ConnectionClosed as closed:
            # Caught before Exception (it is one). A peer that closed, even
            # without a close frame, abandons its game, as on TCP EOF; one
            # whose connection broke (a reset) fails, as on TCP.
            cause = closed.__cause__
            if closed.rcvd is None and isinstance(cause, OSError):
                hub.failed(conn_id, conn, describe_oserror(cause))
                outcome = Outcome.ERROR
        except Exception as exc:  # a bug must cost one connection, not the server
            hub.failed(conn_id, conn, f"internal error: {exc!r}")
            outcome = Outcome.ERROR
            ws.transport.abort()
        finally:
            idle = ws in self._idle
            self._idle.discard(ws)
            conn.close(Outcome.ERROR if idle else outcome)
            del self._live[ws]
            hub.closed(conn)

    def _close(self, ws: WebSocket, code: CloseCode, reason: str, outcome: Outcome) -> None:
        """Close from the server's side (idle, shutdown): the game is recorded
        now, the closing handshake runs on its own."""
        entry = self._live.get(ws)
        if entry is not None:
            entry[1].close(outcome)
        task = asyncio.create_task(ws.close(code, reason))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _sweep_idle(self) -> None:
        watch = IdleWatch(self.hub.config.idle_timeout)
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(watch.tick)
            live = [(ws, entry[1]) for ws, entry in self._live.items()]
            for ws in watch.sweep(live, loop.time()):
                conn_id, conn = self._live[ws]
                log_idle(conn_id, conn, watch.timeout)
                self._idle.add(ws)
                self._close(ws, CloseCode.NORMAL_CLOSURE, "idle", Outcome.ERROR)

    # -- stopping ------------------------------------------------------------

    async def drain(self) -> None:
        """Stop accepting, close connections without a game, give games the
        grace period, close the rest (their games recorded as abandoned)."""
        self.draining = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.hub.config.grace
        if self._server is not None:
            self._server.close(close_connections=False)
        for ws, (_, conn) in list(self._live.items()):
            if not conn.has_game:
                self._close(ws, CloseCode.GOING_AWAY, "server stopping", Outcome.ABANDONED)
        while self._live and loop.time() < deadline:
            await asyncio.sleep(0.05)
        for ws in list(self._live):
            self._close(ws, CloseCode.GOING_AWAY, "server stopping", Outcome.ABANDONED)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), CLOSE_TIMEOUT + 1.0)
        for ws in list(self._live):  # a peer that never closed: cut it
            ws.transport.abort()
        for _ in range(100):
            if not self._live:
                break
            await asyncio.sleep(0.01)
        if self._sweeper is not None:
            self._sweeper.cancel()

    @property
    def playing(self) -> int:
        """Connections with a game in progress."""
        # list() copies at once: the threaded backend asks from its own thread.
        return sum(1 for _, conn in list(self._live.values()) if conn.has_game)


class WebThread:
    """A :class:`WebListener` on an event loop in a thread of its own, for
    the threaded backend."""

    def __init__(self, hub: ServerHub, sock: socket.socket) -> None:
        self.listener = WebListener(hub, sock)
        self.address = self.listener.address
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="guessgame-web", daemon=True)

    def start(self) -> None:
        """Serve from now on; raises what starting raised."""
        self._thread.start()
        self._started.wait()
        if self._error is not None:
            raise self._error

    def request_stop(self) -> None:
        """Begin the graceful stop (:meth:`WebListener.drain`); safe from any thread."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(stop.set)

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            factory = loop_factory(self.listener.hub.config.loop)
            with asyncio.Runner(loop_factory=factory) as runner:
                runner.run(self._main())
        except BaseException as exc:  # reported by start()
            self._error = exc
            self._started.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        await self.listener.start()
        self._started.set()
        await self._stop.wait()
        await self.listener.drain()


def _strategy_of(query: str, default: str) -> str:
    """The strategy ``/ws?strategy=NAME`` asks for (the server's own without it)."""
    names = parse_qs(query).get("strategy")
    return names[-1] if names else default


def _same_origin(origin: str, host: str | None) -> bool:
    """Whether a browser's ``Origin`` names the host and port it asked for."""
    url = urlsplit(origin)
    if host is None or url.scheme not in ("http", "https"):
        return False
    return url.netloc.lower() == host.lower()


def _response(status: http.HTTPStatus, body: bytes, content_type: str = "") -> Response:
    headers = Headers()
    headers["Content-Type"] = content_type or "text/plain; charset=utf-8"
    headers["Content-Length"] = str(len(body))
    headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["Cache-Control"] = "no-cache"
    headers["Connection"] = "close"
    return Response(status.value, status.phrase, headers, body)


def _host(ws: WebSocket) -> str:
    """The client address of a connection ("" if the socket has none)."""
    peer = ws.transport.get_extra_info("peername") if ws.transport is not None else None
    return str(peer[0]) if peer else ""
