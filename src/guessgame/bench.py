"""A closed-loop load generator for any server of the protocol.

C connections each play games back to back: a random secret, honest
reports, ``PARAMS l u`` / ``NUMBER`` / ``REPORT <decision>`` until the guess
is correct, then ``PARAMS 0 -1`` and the next game. Every reply is checked
(an integer, within the range, not repeated within the game) and whatever
goes wrong is counted by kind (:class:`ErrorKind`).

The generator must not be the bottleneck, so the client is an
``asyncio.Protocol`` that frames replies at the byte level and writes the
next command from ``data_received`` (one ``transport.write`` per round trip:
the report and the next ``NUMBER`` travel together). ``procs`` > 1 splits
the connections over worker processes, each with its own event loop, and
merges their counts and latency histograms.

>>> result = run_bench(BenchConfig(port=3333, connections=20, duration=3.0))
>>> print(result.to_json())
"""

from __future__ import annotations

import array
import asyncio
import enum
import json
import math
import multiprocessing
import queue
import random
import resource
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .loops import default_loop, loop_factory
from .protocol import INT64_MAX, INT64_MIN, Decision, Lang

__all__ = [
    "BenchConfig",
    "BenchError",
    "BenchResult",
    "ErrorKind",
    "Progress",
    "raise_nofile_limit",
    "run_bench",
]

#: Connects in flight at once while opening connections: enough to open
#: 10,000 connections in a few seconds without overflowing the server's
#: accept backlog (ours is 4096, the seed's the OS default of 128+).
CONNECT_CONCURRENCY = 200

#: File descriptors a bench process needs besides its connections (stdio,
#: the event loop's selector and self-pipe, multiprocessing pipes).
FD_MARGIN = 64

#: A reply longer than this without a line end is a bad reply: the numbers
#: of a signed 64-bit range have at most 20 characters.
MAX_REPLY = 1024

#: Seconds the servers get to close the connections after the run.
CLOSE_GRACE = 0.5

#: Latency samples kept raw before they are folded into the histogram.
_FOLD_AT = 1 << 18

#: Seconds between progress reports.
PROGRESS_INTERVAL = 0.5

#: Seconds before a connection is opened again after a failed connect, or
#: after the server dropped it before it completed a round trip. Each further
#: failed connect doubles the wait, up to RETRY_MAX, so that a server that
#: refuses is not hammered by thousands of connections at once.
RETRY_DELAY = 0.1
RETRY_MAX = 2.0


class BenchError(Exception):
    """The run could not start: bad configuration, or no connection at all."""


class ErrorKind(enum.Enum):
    """What can go wrong on a connection; the value is the key in the JSON."""

    #: A guess the server already made in this game.
    REPEAT = "repeat"
    #: A guess outside ``[lower, upper]``.
    OUT_OF_RANGE = "out-of-range"
    #: A reply line nobody asked for.
    UNSOLICITED = "unsolicited"
    #: An ``ERROR`` line.
    SERVER_ERROR = "server-error"
    #: A reply that is not an integer.
    BAD_REPLY = "bad-reply"
    #: No reply within the timeout; the connection is opened again.
    STALL = "stall"
    #: The server closed or reset the connection; it is opened again.
    DROPPED = "dropped"
    #: A connection could not be opened (refused, timed out).
    CONNECT = "connect"


@dataclass(frozen=True, slots=True)
class BenchConfig:
    """What to load and how hard."""

    host: str = "127.0.0.1"
    port: int = 3333
    #: Connections held open.
    connections: int = 20
    #: Seconds of measured load (after every connection is open).
    duration: float = 3.0
    #: Worker processes; the connections are split between them.
    procs: int = 1
    lower: int = 1
    upper: int = 100
    #: Event loop of each worker: ``uvloop`` or ``asyncio``.
    loop: str = field(default_factory=default_loop)
    #: How many of the connections play; the rest are held idle. None: all.
    playing: int | None = None
    #: Seconds to wait for a reply (or a connect) before counting a stall.
    timeout: float = 5.0
    lang: Lang = Lang.KO
    connect_concurrency: int = CONNECT_CONCURRENCY

    def __post_init__(self) -> None:
        if self.connections < 1:
            raise ValueError("connections must be at least 1")
        if not self.duration > 0:
            raise ValueError("duration must be positive")
        if self.procs < 1:
            raise ValueError("procs must be at least 1")
        if self.procs > self.connections:
            raise ValueError("procs must not exceed connections")
        if not INT64_MIN <= self.lower <= self.upper <= INT64_MAX:
            raise ValueError("lower must not exceed upper, both within signed 64-bit")
        if self.playing is not None and not 1 <= self.playing <= self.connections:
            raise ValueError("playing must be between 1 and connections")
        if not self.timeout > 0:
            raise ValueError("timeout must be positive")
        if self.connect_concurrency < 1:
            raise ValueError("connect_concurrency must be at least 1")

    @property
    def players(self) -> int:
        """How many connections play."""
        return self.connections if self.playing is None else self.playing


@dataclass(frozen=True, slots=True)
class Progress:
    """A snapshot for a progress display, summed over the workers."""

    #: ``connecting`` while connections open, ``running`` while measuring.
    phase: str
    elapsed: float
    connections: int
    games: int
    round_trips: int
    errors: int


ProgressCallback = Callable[[Progress], None]


@dataclass(slots=True)
class _Tally:
    """What one worker counted in its measured window (picklable)."""

    connections: int = 0
    games: int = 0
    round_trips: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    #: Latency histogram: bucket (ns, lower edge) -> count.
    hist: dict[int, int] = field(default_factory=dict)
    max_ns: int = 0
    elapsed: float = 0.0
    cpu: float = 0.0


@dataclass(frozen=True, slots=True)
class BenchResult:
    """What a run measured; :meth:`to_json` is the ``bench --json`` output."""

    config: BenchConfig
    #: Connections that were open when the measurement began.
    connected: int
    #: Seconds the measurement lasted (about ``config.duration``).
    elapsed: float
    games: int
    round_trips: int
    errors_by_kind: dict[str, int]
    #: NUMBER latency histogram: bucket lower edge in ns -> count.
    latency_histogram: dict[int, int]
    latency_max_ns: int
    #: CPU seconds the load-generating processes used while measuring.
    client_cpu_s: float

    @property
    def errors(self) -> int:
        return sum(self.errors_by_kind.values())

    @property
    def games_per_s(self) -> float:
        return self.games / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def round_trips_per_s(self) -> float:
        return self.round_trips / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def client_cpu_us_per_round_trip(self) -> float | None:
        if not self.round_trips:
            return None
        return self.client_cpu_s / self.round_trips * 1e6

    def latency_ms(self) -> dict[str, float | None]:
        """NUMBER latency p50/p90/p99/max in milliseconds (None without samples)."""
        hist = self.latency_histogram
        out: dict[str, float | None] = {f"p{q}": _percentile(hist, q / 100) for q in (50, 90, 99)}
        out["max"] = self.latency_max_ns / 1e6 if hist else None
        for key, value in out.items():
            if value is not None:
                out[key] = round(value, 4)
        return out

    def to_dict(self) -> dict[str, Any]:
        """The fixed keys of ``bench --json`` and a few more."""
        cpu = self.client_cpu_us_per_round_trip
        return {
            "host": self.config.host,
            "port": self.config.port,
            "connections": self.config.connections,
            "playing": self.config.players,
            "connected": self.connected,
            "procs": self.config.procs,
            "loop": self.config.loop,
            "lower": self.config.lower,
            "upper": self.config.upper,
            "duration_s": round(self.elapsed, 4),
            "games": self.games,
            "games_per_s": round(self.games_per_s, 2),
            "round_trips": self.round_trips,
            "round_trips_per_s": round(self.round_trips_per_s, 2),
            "errors": self.errors,
            "errors_by_kind": dict(self.errors_by_kind),
            "number_latency_ms": self.latency_ms(),
            "client_cpu_us_per_round_trip": None if cpu is None else round(cpu, 3),
        }

    def to_json(self) -> str:
        """One JSON object on one line."""
        return json.dumps(self.to_dict(), ensure_ascii=False)


# -- latency histogram ---------------------------------------------------------


def _bucket(ns: int) -> int:
    """The lower edge of a sample's bucket: ten significant bits (< 0.2 % error)."""
    if ns < 1024:
        return ns
    shift = ns.bit_length() - 10
    return (ns >> shift) << shift


def _fold(samples: array.array[int], hist: dict[int, int]) -> None:
    for ns in samples:
        b = _bucket(ns)
        hist[b] = hist.get(b, 0) + 1
    del samples[:]


def _percentile(hist: dict[int, int], q: float) -> float | None:
    """The q-quantile (nearest rank) of a histogram, in milliseconds."""
    total = sum(hist.values())
    if not total:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for bucket in sorted(hist):
        seen += hist[bucket]
        if seen >= rank:
            return bucket / 1e6
    raise AssertionError("unreachable")


# -- the client ------------------------------------------------------------------

_NS = time.perf_counter_ns


class _Client(asyncio.Protocol):
    """One connection: plays games back to back, or just holds the connection."""

    __slots__ = (
        "w",
        "plays",
        "tr",
        "buf",
        "awaiting",
        "sent",
        "secret",
        "last",
        "guessed",
        "closing",
        "rts",
    )

    def __init__(self, worker: _Worker, plays: bool) -> None:
        self.w = worker
        self.plays = plays
        self.tr: asyncio.Transport | None = None
        self.buf = b""
        #: A NUMBER was sent and its reply has not arrived.
        self.awaiting = False
        #: perf_counter_ns() when the pending NUMBER was sent.
        self.sent = 0
        self.secret = 0
        #: Distance of the previously reported guess; -1 before the first.
        self.last = -1
        self.guessed: set[int] = set()
        #: We are closing this connection ourselves: its loss is no error.
        self.closing = False
        #: Round trips since the connection opened.
        self.rts = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        tr: asyncio.Transport = transport  # type: ignore[assignment]  # uvloop's are not
        self.tr = tr
        sock = tr.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        w = self.w
        w.clients.add(self)
        if not w.running and w.finished:
            self.closing = True
            tr.close()
        elif w.running and self.plays:
            self.new_game(w.first_game)

    def new_game(self, command: bytes) -> None:
        """Start a game with a fresh secret; ``command`` ends in ``NUMBER``."""
        self.secret = self.w.pick()
        self.last = -1
        self.guessed.clear()
        self.awaiting = True
        self.sent = _NS()
        assert self.tr is not None
        self.tr.write(command)

    def data_received(self, data: bytes) -> None:
        now = _NS()
        if self.buf:
            data = self.buf + data
            self.buf = b""
        nl = data.find(b"\n")
        if nl == len(data) - 1 and self.awaiting:
            self.reply(data, now)  # the usual case: exactly one reply line
            return
        if self.closing:  # the run is over, or the connection is being dropped
            return
        if nl < 0:
            if len(data) > MAX_REPLY:
                self.fail(ErrorKind.BAD_REPLY, reconnect=True)
            else:
                self.buf = data
            return
        # Several lines, or one without a request: at most one request is
        # outstanding, and its reply is the first line of this chunk (the
        # reply to the command written below cannot be in it yet).
        pending = self.awaiting
        start = 0
        while nl >= 0:
            if not pending:
                self.fail(ErrorKind.UNSOLICITED, reconnect=True)
                return
            self.reply(data[start : nl + 1], now)
            if self.closing:
                return
            pending = False  # anything after it in this chunk was not asked for
            start = nl + 1
            nl = data.find(b"\n", start)
        if start < len(data):
            self.buf = data[start:]

    def reply(self, line: bytes, now: int) -> None:
        """Check the reply to NUMBER and answer it (the hot path)."""
        self.awaiting = False
        w = self.w
        try:
            guess = int(line)  # int() ignores the surrounding whitespace, \r\n included
        except ValueError:
            if line.startswith(b"ERROR"):
                self.fail(ErrorKind.SERVER_ERROR, reconnect=False)
            else:
                self.fail(ErrorKind.BAD_REPLY, reconnect=True)
            return
        if guess < w.lower or guess > w.upper:
            self.fail(ErrorKind.OUT_OF_RANGE, reconnect=False)
            return
        guessed = self.guessed
        if guess in guessed:
            self.fail(ErrorKind.REPEAT, reconnect=False)
            return
        guessed.add(guess)
        w.samples.append(now - self.sent)
        w.round_trips += 1
        self.rts += 1
        # The judge, inline: judge.Judge gives the same decisions (the tests
        # check it) but its method call and enum lookup cost ~0.3 us more per
        # round trip, a few percent of this loop's whole budget.
        distance = guess - self.secret
        if distance < 0:
            distance = -distance
        if distance == 0:
            w.games += 1
            self.new_game(w.next_game)
            return
        last = self.last
        self.last = distance
        if last < 0 or distance == last:
            command = w.unsure
        elif distance < last:
            command = w.warmer
        else:
            command = w.colder
        self.awaiting = True
        self.sent = _NS()
        self.tr.write(command)  # type: ignore[union-attr]

    def fail(self, kind: ErrorKind, *, reconnect: bool) -> None:
        """Count an error; start over on this connection, or on a new one
        when its state is unknown."""
        w = self.w
        w.errors[kind.value] = w.errors.get(kind.value, 0) + 1
        if not w.running:
            return
        if reconnect:
            self.abort()
            w.reconnect(self.plays, 0.0)
        elif self.plays:
            self.new_game(w.reset_game)
        else:
            self.awaiting = False

    def finish(self) -> None:
        """End of the run: send EOF and read what still comes, so that the
        close is orderly (closing with unread input would reset the
        connection, and a server would log it as a failure)."""
        self.closing = True
        self.awaiting = False
        tr = self.tr
        if tr is None or tr.is_closing():
            return
        if tr.can_write_eof():
            tr.write_eof()
        else:
            tr.close()

    def abort(self) -> None:
        self.closing = True
        self.awaiting = False
        if self.tr is not None:
            self.tr.abort()

    def eof_received(self) -> bool | None:
        return False  # close; connection_lost counts the drop

    def connection_lost(self, exc: Exception | None) -> None:
        w = self.w
        w.clients.discard(self)
        if self.closing or not w.running:
            return
        w.errors["dropped"] = w.errors.get("dropped", 0) + 1
        # A server that drops every connection at once must not make us spin.
        w.reconnect(self.plays, 0.0 if self.rts else RETRY_DELAY)


# -- one worker: an event loop with its share of the connections -----------------


class _Worker:
    """Opens its connections, plays for the duration, and tallies."""

    def __init__(self, config: BenchConfig, connections: int, playing: int) -> None:
        self.config = config
        self.n_connections = connections
        self.n_playing = playing
        self.lower = config.lower
        self.upper = config.upper
        self.clients: set[_Client] = set()
        self.running = False
        self.finished = False
        self.games = 0
        self.round_trips = 0
        self.errors: dict[str, int] = {}
        self.samples: array.array[int] = array.array("q")
        self.hist: dict[int, int] = {}
        self.max_ns = 0
        self.started = 0.0
        self._tasks: set[asyncio.Task[bool]] = set()
        self._sem = asyncio.Semaphore(config.connect_concurrency)
        self._last_error = ""
        #: Whether each connection that failed to open plays (retried at the start).
        self._missing: list[bool] = []
        self.pick = _secret_picker(config.lower, config.upper)

        def enc(text: str) -> bytes:
            return text.encode()

        lang = config.lang
        params = b"PARAMS %d %d\n" % (config.lower, config.upper)
        correct = enc(f"REPORT {Decision.CORRECT.token(lang)}\n")
        #: A new connection's first game.
        self.first_game = params + b"NUMBER\n"
        #: After an error whose reply arrived: end the game, start another.
        self.reset_game = b"PARAMS 0 -1\n" + params + b"NUMBER\n"
        #: After a correct guess (the seed's client ends a game with PARAMS 0 -1).
        self.next_game = correct + b"PARAMS 0 -1\n" + params + b"NUMBER\n"
        self.warmer = enc(f"REPORT {Decision.WARMER.token(lang)}\nNUMBER\n")
        self.colder = enc(f"REPORT {Decision.COLDER.token(lang)}\nNUMBER\n")
        self.unsure = enc(f"REPORT {Decision.UNSURE.token(lang)}\nNUMBER\n")

    async def connect(self, plays: bool, failures: int = 0) -> bool:
        """Open one connection; on failure count it and (while running) retry."""
        loop = asyncio.get_running_loop()
        config = self.config
        async with self._sem:
            if self.finished:
                return False
            try:
                await asyncio.wait_for(
                    loop.create_connection(lambda: _Client(self, plays), config.host, config.port),
                    config.timeout,
                )
            except (OSError, TimeoutError) as exc:
                self.errors["connect"] = self.errors.get("connect", 0) + 1
                self._last_error = _describe(exc)
                if self.running:
                    delay = min(RETRY_MAX, RETRY_DELAY * 2**failures)
                    self.reconnect(plays, delay, failures + 1)
                return False
        return True

    def reconnect(self, plays: bool, delay: float, failures: int = 0) -> None:
        """Open a connection again after ``delay`` seconds (while running)."""
        if not self.running:
            return
        loop = asyncio.get_running_loop()
        if delay > 0:
            loop.call_later(delay, self._spawn_connect, plays, failures)
        else:
            self._spawn_connect(plays, failures)

    def _spawn_connect(self, plays: bool, failures: int) -> None:
        if self.running:
            task = asyncio.get_running_loop().create_task(self.connect(plays, failures))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def open_all(self, on_progress: ProgressCallback | None = None) -> int:
        """Open every connection; BenchError if none opens."""
        plays = [i < self.n_playing for i in range(self.n_connections)]
        reporter = None
        if on_progress is not None:
            reporter = asyncio.get_running_loop().create_task(self._report_connecting(on_progress))
        try:
            results = await asyncio.gather(*(self.connect(p) for p in plays))
        finally:
            if reporter is not None:
                reporter.cancel()
        opened = sum(results)
        if not opened:
            where = f"{self.config.host}:{self.config.port}"
            raise BenchError(f"cannot connect to {where}: {self._last_error}")
        # Those that failed are retried once the run starts.
        self._missing = [p for p, ok in zip(plays, results, strict=True) if not ok]
        return opened

    async def _report_connecting(self, on_progress: ProgressCallback) -> None:
        while True:
            on_progress(self.progress("connecting"))
            await asyncio.sleep(PROGRESS_INTERVAL)

    def progress(self, phase: str) -> Progress:
        return Progress(
            phase=phase,
            elapsed=time.perf_counter() - self.started if self.running else 0.0,
            connections=len(self.clients),
            games=self.games,
            round_trips=self.round_trips,
            errors=sum(self.errors.values()),
        )

    async def play(self, on_progress: ProgressCallback | None) -> _Tally:
        """Play for the configured duration; the tally of that window."""
        loop = asyncio.get_running_loop()
        connected = len(self.clients)
        # Errors while connecting are not part of the measured window's
        # rates, but they are errors: they stay counted.
        self.games = self.round_trips = 0
        self.samples = array.array("q")
        self.running = True
        self.started = time.perf_counter()
        cpu0 = time.process_time()
        for client in list(self.clients):
            if client.plays:
                client.new_game(self.first_game)
        for plays in self._missing:
            self.reconnect(plays, RETRY_DELAY, 1)
        done = loop.create_future()
        tally = _Tally()

        def finish() -> None:
            tally.elapsed = time.perf_counter() - self.started
            tally.cpu = time.process_time() - cpu0
            self.running = False
            self.finished = True
            tally.games = self.games
            tally.round_trips = self.round_trips
            tally.errors = dict(self.errors)
            for client in list(self.clients):
                client.finish()
            done.set_result(None)

        handle = loop.call_later(self.config.duration, finish)
        sweeper = loop.create_task(self._sweep(on_progress))
        try:
            await done
        finally:
            handle.cancel()
            sweeper.cancel()
            for task in list(self._tasks):
                task.cancel()
        self._fold()
        tally.connections = connected
        tally.hist = self.hist
        tally.max_ns = self.max_ns
        # Give the servers a moment to close after our EOF, then close.
        deadline = loop.time() + CLOSE_GRACE
        while self.clients and loop.time() < deadline:
            await asyncio.sleep(0.01)
        for client in list(self.clients):
            if client.tr is not None:
                client.tr.close()
        for _ in range(20):
            if not self.clients:
                break
            await asyncio.sleep(0.01)
        return tally

    async def _sweep(self, on_progress: ProgressCallback | None) -> None:
        """Count stalls, fold latency samples, report progress."""
        timeout_ns = int(self.config.timeout * 1e9)
        tick = min(0.1, self.config.timeout / 4)
        next_progress = time.perf_counter() + PROGRESS_INTERVAL
        while True:
            await asyncio.sleep(tick)
            now = _NS()
            for client in list(self.clients):
                if client.awaiting and now - client.sent > timeout_ns:
                    client.fail(ErrorKind.STALL, reconnect=True)
            if len(self.samples) >= _FOLD_AT:
                self._fold()
            if on_progress is not None and time.perf_counter() >= next_progress:
                next_progress += PROGRESS_INTERVAL
                on_progress(self.progress("running"))

    def _fold(self) -> None:
        samples = self.samples
        if samples:
            self.max_ns = max(self.max_ns, max(samples))
        _fold(samples, self.hist)


def _secret_picker(lower: int, upper: int) -> Callable[[], int]:
    span = upper - lower + 1
    if span <= 1 << 53:
        rnd = random.random
        return lambda: lower + int(rnd() * span)
    return lambda: random.randint(lower, upper)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
        return text[:1].lower() + text[1:]
    return str(exc) or type(exc).__name__


# -- running -------------------------------------------------------------------


def raise_nofile_limit() -> int:
    """Raise the soft limit of open files to the hard limit; the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _check_limits(config: BenchConfig) -> None:
    limit = raise_nofile_limit()
    per_proc = -(-config.connections // config.procs)
    need = per_proc + FD_MARGIN
    if need > limit:
        raise BenchError(
            f"{config.connections} connections need about {need} open files per process "
            f"but the limit is {limit} (ulimit -n); raise the hard limit or split them "
            f"with --procs"
        )


def run_bench(config: BenchConfig, on_progress: ProgressCallback | None = None) -> BenchResult:
    """Run the load; BenchError if it cannot start.

    ``on_progress`` is called about twice a second with counts summed over
    the workers (in the calling thread).
    """
    _check_limits(config)
    try:
        factory = loop_factory(config.loop)
    except ValueError as exc:
        raise BenchError(str(exc)) from None
    if config.procs == 1:
        with asyncio.Runner(loop_factory=factory) as runner:
            tally = runner.run(_run_one(config, config.connections, config.players, on_progress))
        return _merge(config, [tally])
    return _run_procs(config, on_progress)


async def _run_one(
    config: BenchConfig, connections: int, playing: int, on_progress: ProgressCallback | None
) -> _Tally:
    worker = _Worker(config, connections, playing)
    await worker.open_all(on_progress)
    return await worker.play(on_progress)


def _merge(config: BenchConfig, tallies: list[_Tally]) -> BenchResult:
    errors = {kind.value: 0 for kind in ErrorKind}
    hist: dict[int, int] = {}
    for tally in tallies:
        for kind, count in tally.errors.items():
            errors[kind] = errors.get(kind, 0) + count
        for bucket, count in tally.hist.items():
            hist[bucket] = hist.get(bucket, 0) + count
    return BenchResult(
        config=config,
        connected=sum(t.connections for t in tallies),
        elapsed=max(t.elapsed for t in tallies),
        games=sum(t.games for t in tallies),
        round_trips=sum(t.round_trips for t in tallies),
        errors_by_kind=errors,
        latency_histogram=hist,
        latency_max_ns=max(t.max_ns for t in tallies),
        client_cpu_s=sum(t.cpu for t in tallies),
    )


# -- several processes -------------------------------------------------------------


def _connect_budget(config: BenchConfig) -> float:
    """Seconds a worker process may take to open its connections."""
    waves = config.connections / config.procs / config.connect_concurrency + 1
    return 30.0 + waves * config.timeout


def _proc_main(
    config: BenchConfig,
    index: int,
    connections: int,
    playing: int,
    out: Any,
    go: Any,
) -> None:
    """Entry point of a worker process: report ready, wait for go, play, report."""
    raise_nofile_limit()

    async def main() -> None:
        worker = _Worker(config, connections, playing)
        try:
            await worker.open_all()
        except BenchError as exc:
            out.put(("failed", index, str(exc)))
            return
        out.put(("ready", index, None))
        while not go.is_set():
            await asyncio.sleep(0.002)

        def progress(p: Progress) -> None:
            out.put(("progress", index, p))

        tally = await worker.play(progress)
        out.put(("result", index, tally))

    with asyncio.Runner(loop_factory=loop_factory(config.loop)) as runner:
        runner.run(main())


def _run_procs(config: BenchConfig, on_progress: ProgressCallback | None) -> BenchResult:
    # spawn, not fork: the caller may have threads (a server under test).
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    go = ctx.Event()
    conns = _split(config.connections, config.procs)
    plays = _split(config.players, config.procs)
    procs = [
        ctx.Process(
            target=_proc_main,
            args=(config, i, conns[i], plays[i], out, go),
            name=f"guessgame-bench-{i}",
            daemon=True,
        )
        for i in range(config.procs)
    ]
    for proc in procs:
        proc.start()
    try:
        if on_progress is not None:
            on_progress(Progress("connecting", 0.0, 0, 0, 0, 0))
        deadline = time.monotonic() + _connect_budget(config)
        ready = 0
        while ready < len(procs):
            kind, index, payload = _receive(out, procs, deadline)
            if kind == "failed":
                raise BenchError(payload)
            if kind == "ready":
                ready += 1
        go.set()
        deadline = time.monotonic() + config.duration + config.timeout + 30.0
        tallies: dict[int, _Tally] = {}
        latest: dict[int, Progress] = {}
        while len(tallies) < len(procs):
            kind, index, payload = _receive(out, procs, deadline)
            if kind == "result":
                tallies[index] = payload
            elif kind == "progress":
                latest[index] = payload
                if on_progress is not None and len(latest) == len(procs):
                    on_progress(_sum_progress(list(latest.values())))
        for proc in procs:
            proc.join(timeout=5.0)
        return _merge(config, [tallies[i] for i in range(len(procs))])
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5.0)
        out.close()
        out.join_thread()


def _receive(out: Any, procs: list[Any], deadline: float) -> tuple[str, int, Any]:
    while True:
        try:
            message: tuple[str, int, Any] = out.get(timeout=0.2)
            return message
        except queue.Empty:
            pass
        for proc in procs:
            if proc.exitcode not in (None, 0):
                raise BenchError(f"a worker process failed (exit status {proc.exitcode})")
        if time.monotonic() > deadline:
            raise BenchError("the worker processes did not answer in time")


def _sum_progress(items: list[Progress]) -> Progress:
    return Progress(
        phase="running",
        elapsed=max(p.elapsed for p in items),
        connections=sum(p.connections for p in items),
        games=sum(p.games for p in items),
        round_trips=sum(p.round_trips for p in items),
        errors=sum(p.errors for p in items),
    )
