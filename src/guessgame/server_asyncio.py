"""The asyncio backend: one event loop, an ``asyncio.Protocol`` per connection.

A thin shell: bytes from the transport go to the connection's sans-I/O
core, whatever it answers goes back in one ``transport.write``. The write
side is bounded by pausing reads while the transport's buffer is full, so a
client that sends ``NUMBER`` lines and never reads stalls only itself. Fair
turns: the core handles a bounded number of lines per call; when a read
brought more, the connection stops reading and takes its next turn in a
later pass of the loop, after every other connection had its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Callable
from time import perf_counter

from .game import ServerConnection
from .loops import loop_factory
from .records import Outcome
from .server import (
    LISTEN_BACKLOG,
    MAX_LINGERING_REFUSALS,
    IdleWatch,
    Refused,
    ServerHub,
    describe_oserror,
    listen_socket,
    log_idle,
    log_stopping,
)

__all__ = ["AsyncioServer"]

log = logging.getLogger("guessgame.server")

#: Above this many unsent bytes a connection stops reading until the peer
#: catches up. A playing client has a line or two unread at any time; this
#: is hundreds of replies (and the kernel's send buffer holds more first).
WRITE_HIGH_WATER = 16 * 1024

#: Seconds a connection closed for an error keeps draining its input.
LINGER = 1.0

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _GameProtocol(asyncio.Protocol):
    __slots__ = ("server", "transport", "conn", "conn_id", "refused", "blocked", "turn")

    def __init__(self, server: AsyncioServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.conn: ServerConnection | None = None
        self.conn_id = 0
        #: Answered ``busy`` and lingering.
        self.refused = False
        #: The peer does not read: the transport's buffer is over the mark.
        self.blocked = False
        #: The connection's next turn is scheduled (its reads are paused).
        self.turn: asyncio.Handle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not derive from asyncio.Transport.
        tr: asyncio.Transport = transport  # type: ignore[assignment]
        self.transport = tr
        server = self.server
        try:
            self.conn_id, self.conn = server.hub.open(
                transport.get_extra_info("peername"), stopping=server.draining
            )
        except Refused as refusal:
            tr.write(refusal.line)
            if server.refusing >= MAX_LINGERING_REFUSALS:
                tr.close()  # a flood: keep descriptors for the connections served
                return
            # A client may already have sent its first lines: linger rather
            # than close, or the reset would destroy the busy line.
            server.refusing += 1
            self.refused = True
            self._linger()
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        tr.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        server.protocols[self] = None

    def data_received(self, data: bytes) -> None:
        # The hot path: every read of every connection. Plain attributes
        # only (a property is a call into Python code), the rare cases
        # behind one test.
        conn = self.conn
        if conn is None:
            return
        metrics = self.server.hub.metrics
        started = perf_counter() if metrics is not None else 0.0
        try:
            out = conn.receive_data(data)
        except Exception as exc:  # a bug must cost one connection, not the server
            self._fail(f"internal error: {exc!r}")
            return
        if out:
            self.transport.write(out)  # type: ignore[union-attr]
            if metrics is not None:
                metrics.observe_latency(perf_counter() - started)
        if conn.closed or conn.backlog or self.server.draining:
            self._after_turn(conn)

    def _after_turn(self, conn: ServerConnection) -> None:
        """A read left the connection closed, with lines for another turn,
        or the server draining."""
        transport = self.transport
        assert transport is not None
        if conn.closed:
            self._linger()
        elif conn.backlog:
            if self.turn is None:
                transport.pause_reading()
                if not self.blocked:  # else resume_writing schedules it
                    self.turn = asyncio.get_running_loop().call_soon(self._next_turn)
        elif not conn.has_game:  # draining: the game over, the connection goes
            transport.close()

    def _next_turn(self) -> None:
        """The lines a previous read left, one turn's worth; reading goes on
        once none are left (and the peer reads what it was sent)."""
        self.turn = None
        transport = self.transport
        if self.blocked or transport is None or transport.is_closing():
            return
        self.data_received(b"")
        conn = self.conn
        if (
            self.turn is None
            and not self.blocked
            and conn is not None
            and not conn.closed
            and not transport.is_closing()
        ):
            transport.resume_reading()

    def eof_received(self) -> bool:
        if self.conn is not None:
            self.conn.receive_eof()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        conn = self.conn
        if conn is None:
            if self.refused:
                self.refused = False
                self.server.refusing -= 1
            return
        self.server.protocols.pop(self, None)
        self.server.hub.closed(conn)
        if self.turn is not None:
            self.turn.cancel()
            self.turn = None
        if exc is not None and not conn.closed:
            what = describe_oserror(exc) if isinstance(exc, OSError) else repr(exc)
            self.server.hub.failed(self.conn_id, conn, what)
            conn.close(Outcome.ERROR)
        else:
            conn.close(Outcome.ABANDONED)

    def pause_writing(self) -> None:
        self.blocked = True
        if self.transport is not None:
            self.transport.pause_reading()
        if self.turn is not None:
            self.turn.cancel()
            self.turn = None

    def resume_writing(self) -> None:
        self.blocked = False
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if self.conn is not None and self.conn.backlog:
            self.turn = asyncio.get_running_loop().call_soon(self._next_turn)
        else:
            transport.resume_reading()

    def _linger(self) -> None:
        """Close after a closing error without losing the error line.

        Closing a socket with unread input makes the kernel send a reset,
        which can destroy the reply before the peer reads it. So: flush and
        shut our side, discard what still arrives, close on the peer's EOF
        or after :data:`LINGER` seconds.
        """
        transport = self.transport
        assert transport is not None
        if transport.is_closing():
            return
        if transport.can_write_eof():
            transport.write_eof()
            transport.resume_reading()
            asyncio.get_running_loop().call_later(LINGER, transport.close)
        else:
            transport.close()

    def close(self, outcome: Outcome) -> None:
        """Close from the server's side (idle, shutdown)."""
        if self.conn is not None:
            self.conn.close(outcome)
        if self.transport is not None:
            self.transport.close()

    def _fail(self, what: str) -> None:
        assert self.conn is not None
        self.server.hub.failed(self.conn_id, self.conn, what)
        self.close(Outcome.ERROR)
        if self.transport is not None:
            self.transport.abort()


class AsyncioServer:
    """Serves the game from one event loop until stopped."""

    def __init__(self, hub: ServerHub) -> None:
        self.hub = hub
        self.protocols: dict[_GameProtocol, None] = {}
        #: Refused connections still lingering.
        self.refusing = 0
        self.draining = False
        self.address: tuple[str, int] | None = None
        #: Where the page and ``/ws`` are served (``web_port``), once serving.
        self.web_address: tuple[str, int] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._stop_requested = threading.Event()

    def run(
        self,
        ready: Callable[[tuple[str, int]], None] | None = None,
        *,
        sock: socket.socket | None = None,
        web_sock: socket.socket | None = None,
        handle_signals: bool = True,
    ) -> None:
        """Bind (OSError if the port is taken), call ``ready(address)``, serve
        until :meth:`request_stop` or SIGINT/SIGTERM, drain, and return.
        With ``web_sock`` (or ``web_port`` configured), the web shell serves
        from the same event loop."""
        config = self.hub.config
        if sock is None:
            sock = listen_socket(config.host, config.port)
        if web_sock is None and config.web_port is not None:
            try:
                web_sock = listen_socket(config.host, config.web_port)
            except OSError:
                sock.close()  # the TCP port is not left bound
                raise
        with asyncio.Runner(loop_factory=loop_factory(config.loop)) as runner:
            runner.run(self._main(sock, web_sock, ready, handle_signals))

    def request_stop(self) -> None:
        """Begin the graceful stop; safe from any thread."""
        self._stop_requested.set()
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:  # the loop already closed
                pass

    async def _main(
        self,
        sock: socket.socket,
        web_sock: socket.socket | None,
        ready: Callable[[tuple[str, int]], None] | None,
        handle_signals: bool,
    ) -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(_log_loop_error)
        self._loop = loop
        self._stop = asyncio.Event()
        previous = {signum: signal.getsignal(signum) for signum in _SIGNALS}
        if handle_signals:
            for signum in _SIGNALS:
                loop.add_signal_handler(signum, self._stop.set)
        self.hub.log_limits()
        # create_server listens again, with a backlog of 100 unless told.
        server = await loop.create_server(
            lambda: _GameProtocol(self), sock=sock, backlog=LISTEN_BACKLOG
        )
        self.address = sock.getsockname()[:2]
        web = None
        if web_sock is not None:
            from .server_web import WebListener  # loads websockets only when asked

            web = WebListener(self.hub, web_sock)
            await web.start()
            self.web_address = web.address
        sweeper = asyncio.create_task(self._sweep_idle())
        if ready is not None:
            ready(self.address)
        if self._stop_requested.is_set():
            self._stop.set()
        try:
            await self._stop.wait()
        finally:
            server.close()
            if web is None:
                await self._drain()
            else:
                await asyncio.gather(self._drain(web.playing), web.drain())
            sweeper.cancel()
            if handle_signals:
                # Give the caller its own handlers back (the loop would leave
                # the defaults): it may still have records to flush.
                for signum in _SIGNALS:
                    loop.remove_signal_handler(signum)
                    signal.signal(signum, previous[signum])

    async def _drain(self, playing: int = 0) -> None:
        """Stop accepting, close idle connections, give games the grace period
        (``playing``: the games in flight on the web shell, for the log)."""
        self.draining = True
        for proto in list(self.protocols):
            if proto.conn is not None and not proto.conn.has_game:
                proto.close(Outcome.ABANDONED)
            else:
                playing += 1
        log_stopping(playing, self.hub.config.grace)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.hub.config.grace
        while self.protocols and loop.time() < deadline:
            await asyncio.sleep(0.05)
        for proto in list(self.protocols):
            proto.close(Outcome.ABANDONED)
        # Let the transports run their connection_lost callbacks.
        for _ in range(100):
            if not self.protocols:
                break
            await asyncio.sleep(0.01)

    async def _sweep_idle(self) -> None:
        """Close connections that sent no complete line for ``idle_timeout``."""
        watch = IdleWatch(self.hub.config.idle_timeout)
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(watch.tick)
            live = [(p, p.conn) for p in self.protocols if p.conn is not None]
            for proto in watch.sweep(live, loop.time()):
                assert proto.conn is not None
                log_idle(proto.conn_id, proto.conn, watch.timeout)
                proto.close(Outcome.ERROR)


def _log_loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
    """The loop's errors as one log line each, never a traceback."""
    exc = context.get("exception")
    message = context.get("message", "event loop error")
    if isinstance(exc, OSError):
        log.warning("%s: %s", message, describe_oserror(exc))
    elif exc is not None:
        log.error("%s: %r", message, exc)
    else:
        log.warning("%s", message)
