"""What every server backend shares: its configuration and the hub that
turns connections into :class:`~guessgame.game.ServerConnection` objects and
finished games into log lines and records."""

from __future__ import annotations

import collections
import enum
import functools
import itertools
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

from .game import GameConfig, ServerConnection
from .loops import default_loop
from .metrics import Metrics, start_metrics_server
from .protocol import DEFAULT_MAX_GUESSES, DEFAULT_MAX_LINE, Decision, ErrorCode, Lang, format_error
from .records import GameRecord, Guesses, Outcome, format_peer
from .store import NullStore, Store
from .strategies import DEFAULT_STRATEGY
from .transcript import server_line

__all__ = [
    "MAX_HANDSHAKES",
    "MAX_HANDSHAKES_PER_ADDRESS",
    "Backend",
    "Refused",
    "ServerConfig",
    "GameLog",
    "ServerHub",
    "format_peer",
]

log = logging.getLogger("guessgame.server")
#: Where the lines of finished games go, already stamped: give its handler a
#: plain ``%(message)s`` format.
game_log = logging.getLogger("guessgame.games")

#: File descriptors a server keeps for itself besides its connections: the
#: listening socket, the store's database files, the event loop's selector,
#: standard streams, the metrics server, refused connections while they
#: hear ``busy``, and the web listener's connections still in their opening
#: handshake. Without this margin, a server at its descriptor limit
#: (``ulimit -n``) cannot even accept a connection to refuse it: asyncio
#: logs a line per failed accept, uvloop resets the connection unanswered.
FD_RESERVE = 96
#: Refused connections that may linger (see the backends' ``_linger``) at
#: once; beyond this, a refused connection is closed right after ``busy``,
#: so that a flood of refusals cannot eat the reserve.
MAX_LINGERING_REFUSALS = 32
#: Connections to the web port still in their opening handshake (or an
#: HTTP request for the page) at once; beyond this, a new one is closed at
#: once, so that clients that connect and never finish the handshake hold
#: neither memory nor the reserve of descriptors (each may take up to the
#: handshake timeout, 5 s).
MAX_HANDSHAKES = 32
#: Of those, most from one client address: one client cannot take them all
#: (a browser opens the page, its files and two WebSockets at once).
MAX_HANDSHAKES_PER_ADDRESS = 8


def connection_limit(max_connections: int) -> int:
    """How many connections a server can serve at once: ``max_connections``,
    lowered to what the file-descriptor limit leaves after :data:`FD_RESERVE`."""
    try:
        import resource
    except ImportError:  # not on Unix
        return max_connections
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return max_connections
    return max(1, min(max_connections, soft - FD_RESERVE))


class Backend(enum.Enum):
    """How a server moves bytes: one event loop, or a thread per connection."""

    ASYNCIO = "asyncio"
    THREADS = "threads"


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Everything a server process needs to know; built by the CLI or a caller."""

    host: str = "127.0.0.1"
    port: int = 3333
    backend: Backend = Backend.ASYNCIO
    strategy: str = DEFAULT_STRATEGY
    #: Most connections served at once; one more is answered ``ERROR busy``.
    max_connections: int = 10000
    #: Most connections served at once from one client address (0: no limit).
    max_per_address: int = 0
    #: Seconds without a complete line before a connection is closed.
    idle_timeout: float = 120.0
    #: Seconds that games in flight get to finish after SIGTERM/SIGINT.
    grace: float = 5.0
    max_line: int = DEFAULT_MAX_LINE
    #: Most guesses one game holds (``too-many-guesses`` beyond).
    max_guesses: int = DEFAULT_MAX_GUESSES
    lang: Lang = Lang.KO
    #: Log every report in the seed's form (``서버: 3는 맞음``).
    verbose: bool = False
    #: Expect a PROXY protocol header (v1 or v2) on every connection and take
    #: the peer address from it (behind HAProxy's send-proxy / send-proxy-v2).
    proxy_protocol: bool = False
    #: Serve Prometheus metrics over HTTP on this port of ``host`` (None: off).
    metrics_port: int | None = None
    #: Event loop of the asyncio backend: ``uvloop`` or ``asyncio``.
    loop: str = field(default_factory=default_loop)
    #: Serve the web page and the game over a WebSocket (``/ws``) on this
    #: port of ``host`` too (None: off; 0: any free port).
    web_port: int | None = None

    def __post_init__(self) -> None:
        if self.max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        if self.max_per_address < 0:
            raise ValueError("max_per_address must not be negative")
        if self.idle_timeout <= 0:
            raise ValueError("idle_timeout must be positive")
        if self.grace < 0:
            raise ValueError("grace must not be negative")


_BUSY_LINES = {
    "max-connections": format_error(ErrorCode.BUSY, "too many connections; try again later"),
    "max-per-address": format_error(
        ErrorCode.BUSY, "too many connections from your address; try again later"
    ),
    "stopping": format_error(ErrorCode.BUSY, "the server is stopping; try again later"),
}


class Refused(Exception):
    """:meth:`ServerHub.open` turned a connection away: send :attr:`line`
    (``ERROR busy ...``) and close."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = _BUSY_LINES[reason]


class ServerHub:
    """Makes the connections of one server and takes care of what they report.

    Backends (every transport of one server alike) call :meth:`open` for
    every accepted connection, :meth:`closed` when it is gone and
    :meth:`failed` when it breaks; the hub holds the connection limits,
    numbers connections, logs one line per finished game (and per report
    with ``verbose``), and hands every record to the store. Thread-safe.
    """

    def __init__(
        self,
        config: ServerConfig,
        store: Store | None = None,
        transcript: TextIO | None = None,
        report_hook: Callable[[int, Decision], None] | None = None,
        metrics: Metrics | None = None,
        conn_prefix: str = "",
    ) -> None:
        self.config = config
        self.game_log = GameLog(conn_prefix)
        #: Counters for ``--metrics-port``; None when off, and then free.
        self.metrics = metrics
        self._metrics_server: Any = None
        self.store: Store = store if store is not None else NullStore()
        self.game_config = GameConfig(
            strategy=config.strategy,
            max_line=config.max_line,
            max_guesses=config.max_guesses,
            backend=config.backend.value,
            proxy_protocol=config.proxy_protocol,
        )
        #: Connections served at once: ``config.max_connections``, or fewer
        #: when the file-descriptor limit would not allow that many.
        self.max_connections = connection_limit(config.max_connections)
        #: Connections open now (refused ones never count).
        self.open_connections = 0
        #: With --max-per-address: the connections open now per client
        #: host, and the host each connection counts under.
        self._per_host: dict[str, int] = {}
        self._host_of: dict[ServerConnection, str] = {}
        self._limits = threading.Lock()
        self._ids = itertools.count(1)
        self._transcript = transcript if transcript is not None else sys.stdout
        self._report_hook = report_hook
        if report_hook is None and config.verbose:
            self._report_hook = self._print_report

    def log_limits(self) -> None:
        """Say so when the descriptor limit lowered the connection limit."""
        if self.max_connections < self.config.max_connections:
            log.warning(
                "serving at most %d connections, not %d: the file-descriptor limit "
                "(ulimit -n) leaves no more",
                self.max_connections,
                self.config.max_connections,
            )

    def start_metrics(self) -> None:
        """Count and serve metrics at ``http://host:metrics_port/metrics`` when
        the configuration asks for it. ImportError without prometheus_client,
        OSError if the port cannot be bound."""
        port = self.config.metrics_port
        if port is None or self.metrics is not None:
            return
        store = self.store

        def store_counters() -> dict[str, int]:
            return {
                "queued": int(getattr(store, "pending", 0)),
                "dropped": int(getattr(store, "dropped", 0)),
                "written": int(getattr(store, "written", 0)),
            }

        metrics = Metrics(self.config.strategy, store_counters)
        self._metrics_server = start_metrics_server(metrics, self.config.host, port)
        self.metrics = metrics

    def stop_metrics(self) -> None:
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
            self._metrics_server.server_close()
            self._metrics_server = None

    def open(
        self, address: object, game_config: GameConfig | None = None, *, stopping: bool = False
    ) -> tuple[int, ServerConnection]:
        """A new connection's id and protocol state, or :class:`Refused`
        when a limit (or a server ``stopping``) turns it away.

        The connection counts toward ``--max-connections`` until
        :meth:`closed`, and toward ``--max-per-address`` under its socket's
        host, or, with ``--proxy-protocol``, under the host its header names
        once the header has arrived (the core then asks :meth:`_admit`).
        """
        metrics = self.metrics
        per_address = self.config.max_per_address
        if game_config is None:
            game_config = self.game_config
        # A transport without PROXY headers (the WebSocket) counts under its
        # socket's address even on a --proxy-protocol server.
        proxied = game_config.proxy_protocol
        host = _host_of(address) if per_address and not proxied else None
        with self._limits:
            if stopping:
                reason = "stopping"
            elif self.open_connections >= self.max_connections:
                reason = "max-connections"
            elif host is not None and self._per_host.get(host, 0) >= per_address:
                reason = "max-per-address"
            else:
                reason = ""
                self.open_connections += 1
                if host is not None:
                    self._per_host[host] = self._per_host.get(host, 0) + 1
        if reason:
            if metrics is not None:
                metrics.connection_refused(reason)
            raise Refused(reason)
        conn_id = next(self._ids)
        conn = ServerConnection(
            game_config,
            peer=format_peer(address),
            on_report=self._report_hook,
            on_game_end=functools.partial(self._game_ended, conn_id),
            on_game_start=metrics.game_started if metrics is not None else None,
            on_error=metrics.error if metrics is not None else None,
        )
        if host is not None:
            self._host_of[conn] = host
        elif per_address and proxied:
            conn.admit = functools.partial(self._admit, conn, _host_of(address))
        if metrics is not None:
            metrics.connection_opened()
        return conn_id, conn

    def _admit(self, conn: ServerConnection, socket_host: str, host: str | None) -> bool:
        """Count a PROXY-protocol connection under the host of its header
        (its socket's for a header without an address); False if that host
        already has ``--max-per-address`` connections."""
        host = socket_host if host is None else host
        with self._limits:
            count = self._per_host.get(host, 0)
            if count >= self.config.max_per_address:
                refused = True
            else:
                refused = False
                self._per_host[host] = count + 1
                self._host_of[conn] = host
        if refused and self.metrics is not None:
            self.metrics.connection_refused("max-per-address")
        return not refused

    def closed(self, conn: ServerConnection) -> None:
        """A connection that :meth:`open` made is gone."""
        with self._limits:
            self.open_connections -= 1
            host = self._host_of.pop(conn, None) if self._host_of else None
            if host is not None:
                count_down(self._per_host, host)
        if self.metrics is not None:
            self.metrics.connection_closed()

    def refused(self, reason: str = "max-connections") -> None:
        """A connection was answered ``ERROR busy`` without :meth:`open`
        (no thread or descriptor left for it)."""
        if self.metrics is not None:
            self.metrics.connection_refused(reason)

    def failed(self, conn_id: int, conn: ServerConnection, what: str) -> None:
        """Log a connection that broke: one line, no traceback. A balancer's
        own connections (health checks, which often end in a reset) are not
        worth a line."""
        if not conn.from_balancer:
            log.warning("conn %d %s: %s", conn_id, conn.peer, what)

    def _print_report(self, guess: int, decision: Decision) -> None:
        print(server_line(guess, decision, self.config.lang), file=self._transcript, flush=True)

    def _game_ended(self, conn_id: int, record: GameRecord) -> None:
        self.store.record(record)
        if self.metrics is not None:
            self.metrics.game_ended(record)
        self.game_log.add(conn_id, record)

    def close(self) -> None:
        """Write the pending game lines and stop serving metrics."""
        self.game_log.flush()
        self.stop_metrics()


_OUTCOME_WORDS = {outcome: outcome.value for outcome in Outcome}


class GameLog:
    """One log line per finished game, written in batches.

    Through :mod:`logging` a line costs about 20 µs, more than all the round
    trips of a game with the smart strategy. So the caller (the event loop)
    only formats the line, stamped with its game's end time, and appends it
    to a deque (about 1 µs); a thread hands what gathered every
    :attr:`interval` seconds to the ``guessgame.games`` logger as one
    record. Formatting there instead took the GIL for milliseconds at a time
    while the event loop wanted it.
    """

    #: Most lines waiting to be written. A server's stderr that blocks (a
    #: pipe nobody reads, a stalled terminal) must not grow the server: the
    #: oldest lines go, and the next batch says how many.
    MAX_PENDING = 100_000

    def __init__(
        self, conn_prefix: str = "", interval: float = 0.25, max_pending: int = MAX_PENDING
    ) -> None:
        self.conn_prefix = conn_prefix
        self.interval = interval
        self._pending: collections.deque[str] = collections.deque(maxlen=max_pending)
        self._added = 0
        #: The second of the last stamp made, and the stamp (one tuple, so
        #: that threads of the threaded backend never see half of it).
        self._stamp: tuple[int, str] = (-1, "")
        self._writer: threading.Thread | None = None
        self._lock = threading.Lock()

    def add(self, conn_id: int, record: GameRecord) -> None:
        # The fields at once, the outcome's word and the count of guesses
        # without a call into Python code (Enum.value and Guesses.__len__).
        lower, upper, _, _, peer, _, ended, outcome, guesses = record
        second = int(ended)
        stamp = self._stamp
        if stamp[0] != second:
            stamp = self._stamp = (
                second,
                time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second)),
            )
        count = len(guesses.codes) if type(guesses) is Guesses else len(guesses)
        self._pending.append(
            f"{stamp[1]} conn {self.conn_prefix}{conn_id} {peer}: game {lower}..{upper}"
            f" {_OUTCOME_WORDS[outcome]} after {count} guesses"
        )
        self._added += 1  # racy under threads: only ever read to tell of losses
        if self._writer is None:
            self._start()

    def _start(self) -> None:
        with self._lock:
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._run, name="guessgame-game-log", daemon=True
                )
                self._writer.start()

    def _run(self) -> None:
        """Flush every interval; after a few idle ones, end (add() starts
        another), so that an idle server keeps no thread busy."""
        idle = 0
        while idle < 8:
            time.sleep(self.interval)
            if self._pending:
                idle = 0
                self.flush()
            else:
                idle += 1
        with self._lock:
            self._writer = None
        if self._pending:  # arrived while ending
            self._start()

    def flush(self) -> None:
        """Write every pending line now."""
        pending = self._pending
        added, self._added = self._added, 0
        popleft = pending.popleft
        lines = [popleft() for _ in range(len(pending))]
        if not lines or not game_log.isEnabledFor(logging.INFO):
            return
        if added > len(lines) and len(lines) == pending.maxlen:
            game_log.warning(
                "the log of finished games fell behind: %d lines dropped", added - len(lines)
            )
        game_log.info("%s", "\n".join(lines))


class IdleWatch:
    """Finds connections that completed no line for ``timeout`` seconds.

    One sweep every :attr:`tick` seconds for the whole server, instead of a
    timer per connection or a clock read per line: each sweep compares a
    connection's count of complete lines with the previous sweep's. Closing
    is the caller's (the backends differ in how).
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.tick = min(1.0, timeout / 4)
        self._seen: dict[object, tuple[int, float]] = {}

    def sweep(self, conns: Iterable[tuple[Hashable, ServerConnection]], now: float) -> list[Any]:
        """The keys of the connections idle for ``timeout`` at ``now``."""
        idle = []
        seen, fresh = self._seen, {}
        for key, conn in conns:
            lines = conn.lines
            last = seen.get(key)
            if last is None or last[0] != lines:
                fresh[key] = (lines, now)
            elif now - last[1] >= self.timeout:
                idle.append(key)
            else:
                fresh[key] = last
        self._seen = fresh
        return idle


def count_down(counts: dict[str, int], key: str) -> None:
    """One less of ``key`` in ``counts``, forgotten at zero: a count per
    client address holds only the addresses that have something open."""
    left = counts[key] - 1
    if left:
        counts[key] = left
    else:
        del counts[key]


def _host_of(address: object) -> str:
    """The host part of a socket address, the key of ``--max-per-address``."""
    if isinstance(address, tuple) and address:
        return str(address[0])
    return str(address)


def log_idle(conn_id: int, conn: ServerConnection, timeout: float) -> None:
    log.info("conn %d %s: idle for %gs; closing", conn_id, conn.peer, timeout)


def log_stopping(playing: int, grace: float) -> None:
    """The line a server logs when it begins its graceful stop."""
    log.info(
        "stopping: no new connections; %d game%s in flight get %gs to finish",
        playing,
        "" if playing == 1 else "s",
        grace,
    )


def describe_oserror(exc: OSError) -> str:
    """A short lowercase description of an OS error (``connection reset by peer``)."""
    text = exc.strerror or str(exc) or type(exc).__name__
    return text[:1].lower() + text[1:]


#: Connections the kernel queues before the server accepts them. A burst of
#: new players queues here while the event loop is busy; past it, the kernel
#: drops their SYNs and each one waits a second to retry. (The kernel caps
#: it at net.core.somaxconn, 4096 on current Linux.)
LISTEN_BACKLOG = 4096


#: The kernel's receive buffer of every connection (SO_RCVBUF, set on the
#: listening socket, which its connections inherit; Linux doubles it for its
#: bookkeeping). One read returns at most what it holds, so this bounds the
#: input a server holds for a connection whose lines it has not answered yet
#: (a client that floods and never reads its replies), and what the kernel
#: holds for it. Game lines are tens of bytes; 8 KB is hundreds of them.
RECEIVE_BUFFER = 8 * 1024
#: The kernel's send buffer of every connection (SO_SNDBUF, the same way):
#: what replies a client that never reads leaves in the kernel before the
#: server stops reading it (autotuned, it grows to megabytes).
SEND_BUFFER = 16 * 1024


def listen_socket(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A listening TCP socket; OSError (e.g. address in use) as the OS says."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server(
        (host, port), family=family, backlog=LISTEN_BACKLOG, reuse_port=reuse_port
    )
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
    return sock
