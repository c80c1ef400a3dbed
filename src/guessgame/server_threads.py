"""The threaded backend: blocking sockets, one thread per connection.

The seed's first version, made safe: the same sans-I/O core as the asyncio
backend answers every line; ``sendall`` blocks a connection's own thread
when its peer does not read, so nothing buffers without bound. The core
answers a read in turns of a bounded number of lines, each sent before the
next is made: a thread holds one turn's replies at most, and gives up the
GIL in ``sendall`` between turns.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

from .game import ServerConnection
from .records import Outcome
from .server import (
    MAX_LINGERING_REFUSALS,
    IdleWatch,
    Refused,
    ServerHub,
    describe_oserror,
    listen_socket,
    log_idle,
    log_stopping,
)

if TYPE_CHECKING:
    from .server_web import WebThread

__all__ = ["ThreadedServer"]

log = logging.getLogger("guessgame.server")

#: How often the accept loop looks for a stop request.
_ACCEPT_POLL = 0.2
_RECV_SIZE = 65536
#: Seconds a connection closed for an error keeps draining its input.
_LINGER = 1.0
#: Threads need little stack: this keeps 10,000 connections in bounded memory.
_THREAD_STACK = 256 * 1024


class _Connection:
    __slots__ = ("sock", "conn", "conn_id", "thread", "idle")

    def __init__(self, sock: socket.socket, conn_id: int, conn: ServerConnection) -> None:
        self.sock = sock
        self.conn = conn
        self.conn_id = conn_id
        self.thread: threading.Thread | None = None
        #: Closed by the idle watchdog.
        self.idle = False

    def wake(self, how: int = socket.SHUT_RD) -> None:
        """Unblock the connection's thread by shutting its socket (for
        reading; SHUT_RDWR also ends a send blocked on a peer that never reads)."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(how)


class ThreadedServer:
    """Serves the game with a thread per connection until stopped."""

    def __init__(self, hub: ServerHub) -> None:
        self.hub = hub
        self.draining = False
        self.address: tuple[str, int] | None = None
        #: Where the page and ``/ws`` are served (``web_port``), once serving.
        self.web_address: tuple[str, int] | None = None
        self._web: WebThread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._live: dict[_Connection, None] = {}
        #: Refused connections still lingering.
        self._refusing = 0

    def request_stop(self) -> None:
        """Begin the graceful stop; safe from any thread or a signal handler."""
        self._stop.set()

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
        from an event loop in a thread of its own."""
        config = self.hub.config
        listener = sock if sock is not None else listen_socket(config.host, config.port)
        try:
            if web_sock is None and config.web_port is not None:
                web_sock = listen_socket(config.host, config.web_port)
            if web_sock is not None:
                from .server_web import WebThread  # loads websockets only when asked

                self._web = WebThread(self.hub, web_sock)
                self._web.start()
                self.web_address = self._web.address
        except BaseException:
            listener.close()  # the TCP port is not left bound
            raise
        previous: dict[signal.Signals, Any] = {}
        if handle_signals:
            for signum in (signal.SIGINT, signal.SIGTERM):
                previous[signum] = signal.signal(signum, self._on_signal)
        with contextlib.suppress(ValueError, RuntimeError):
            threading.stack_size(_THREAD_STACK)
        finished = threading.Event()
        watchdog = threading.Thread(
            target=self._watch_idle, args=(finished,), name="guessgame-idle", daemon=True
        )
        watchdog.start()
        try:
            with listener:
                listener.settimeout(_ACCEPT_POLL)
                self.address = listener.getsockname()[:2]
                if ready is not None:
                    ready(self.address)
                self._accept_loop(listener)
            self._drain()
        finally:
            finished.set()
            watchdog.join()
            if self._web is not None:  # stopped already, unless serving failed
                self._web.request_stop()
                self._web.join(timeout=10.0)
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _watch_idle(self, finished: threading.Event) -> None:
        """Shut the sockets of connections that sent no complete line for
        ``idle_timeout``; their threads see it and end."""
        watch = IdleWatch(self.hub.config.idle_timeout)
        while not finished.wait(watch.tick):
            with self._lock:
                live = [(entry, entry.conn) for entry in self._live]
            for entry in watch.sweep(live, time.monotonic()):
                entry.idle = True
                log_idle(entry.conn_id, entry.conn, watch.timeout)
                entry.wake(socket.SHUT_RDWR)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stop.set()

    def _accept_loop(self, listener: socket.socket) -> None:
        self.hub.log_limits()
        while not self._stop.is_set():
            try:
                sock, address = listener.accept()
            except TimeoutError:
                continue
            except OSError as exc:
                # Out of file descriptors and the like: say so, breathe, go on.
                log.warning("accept failed: %s", describe_oserror(exc))
                time.sleep(0.1)
                continue
            try:
                conn_id, conn = self.hub.open(address)
            except Refused as refusal:
                self._refuse(sock, refusal.line)
                continue
            entry = _Connection(sock, conn_id, conn)
            entry.thread = threading.Thread(
                target=self._serve, args=(entry,), name=f"conn-{conn_id}", daemon=True
            )
            with self._lock:
                self._live[entry] = None
            try:
                entry.thread.start()
            except RuntimeError as exc:  # can't start a new thread
                with self._lock:
                    self._live.pop(entry, None)
                self.hub.failed(conn_id, conn, f"no thread for it: {exc}")
                conn.close(Outcome.ERROR)
                self.hub.closed(conn)
                self.hub.refused()
                self._refuse(sock, Refused("max-connections").line)

    def _serve(self, entry: _Connection) -> None:
        # Blocking calls without a timeout: a socket with one polls before
        # every recv, a second system call and GIL hand-off per read. The
        # idle watchdog shuts idle sockets instead.
        sock, conn = entry.sock, entry.conn
        metrics = self.hub.metrics
        outcome = Outcome.ABANDONED
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while True:
                data = sock.recv(_RECV_SIZE)
                if not data:
                    break
                started = time.perf_counter() if metrics is not None else 0.0
                out = conn.receive_data(data)
                if out:
                    sock.sendall(out)
                    if metrics is not None:
                        metrics.observe_latency(time.perf_counter() - started)
                while conn.backlog:  # the rest of the read, a turn at a time
                    out = conn.receive_data(b"")
                    if out:
                        sock.sendall(out)
                if conn.closed:
                    _linger(sock)
                    break
                if self.draining and not conn.has_game:
                    break
        except OSError as exc:
            self.hub.failed(entry.conn_id, conn, describe_oserror(exc))
            outcome = Outcome.ERROR
        except Exception as exc:  # a bug must cost one connection, not the server
            self.hub.failed(entry.conn_id, conn, f"internal error: {exc!r}")
            outcome = Outcome.ERROR
        finally:
            conn.close(Outcome.ERROR if entry.idle else outcome)
            try:
                sock.close()
            finally:
                with self._lock:
                    self._live.pop(entry, None)
                self.hub.closed(conn)

    def _refuse(self, sock: socket.socket, line: bytes) -> None:
        """Send ``ERROR busy`` and close. A client may already have sent its
        first lines, and closing over them would reset the connection and
        destroy the busy line: linger, in a thread of its own so accepting
        goes on; in a flood of refusals, close at once to keep descriptors."""
        try:
            sock.settimeout(1.0)
            sock.sendall(line)
            with self._lock:
                linger = self._refusing < MAX_LINGERING_REFUSALS
                if linger:
                    self._refusing += 1
            if not linger:
                sock.close()
                return
            try:
                threading.Thread(target=self._linger_and_close, args=(sock,), daemon=True).start()
            except RuntimeError:  # no thread to linger in
                with self._lock:
                    self._refusing -= 1
                raise
        except (OSError, RuntimeError):
            sock.close()

    def _linger_and_close(self, sock: socket.socket) -> None:
        try:
            _linger(sock)
        finally:
            sock.close()
            with self._lock:
                self._refusing -= 1

    def _drain(self) -> None:
        """Close idle connections, give games the grace period, close the rest."""
        self.draining = True
        web = self._web
        playing = 0
        if web is not None:
            playing = web.listener.playing
            web.request_stop()  # it drains alongside, with the same grace
        with self._lock:
            entries = list(self._live)
        for entry in entries:
            if not entry.conn.has_game:
                entry.wake()
            else:
                playing += 1
        log_stopping(playing, self.hub.config.grace)
        deadline = time.monotonic() + self.hub.config.grace
        while time.monotonic() < deadline:
            with self._lock:
                if not self._live:
                    break
            time.sleep(0.05)
        with self._lock:
            entries = list(self._live)
        for entry in entries:
            entry.wake()
        for entry in entries:
            if entry.thread is not None:
                entry.thread.join(timeout=2.0)
        if web is not None:
            web.join(timeout=10.0)


def _linger(sock: socket.socket) -> None:
    """Shut our side and discard input for a moment before closing, so that
    the kernel does not reset the connection over unread input and destroy
    the error line just sent (see the asyncio backend's ``_linger``)."""
    try:
        sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + _LINGER
        while (remaining := deadline - time.monotonic()) > 0:
            sock.settimeout(remaining)
            if not sock.recv(_RECV_SIZE):
                break
    except OSError:
        pass
