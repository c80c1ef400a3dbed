"""The part every database store shares: a bounded queue that the servers
append to, one writer thread that hands it on in batches, and the engine
that commits them, in a process of its own by default.

Servers hand records to :meth:`BatchWriter.record`, which only appends to
an in-memory queue: it is called on the event loop and on connection
threads, so it must cost a few hundred nanoseconds and never wait for I/O.
The writer thread drains the queue in batches, at least every
:data:`COMMIT_INTERVAL` seconds while records wait, and hands each batch to
a :class:`Sink`, which commits it as one transaction. When the queue is
full (the disk stalled, the database is locked or unreachable), new
records are dropped and counted, and the writer logs a warning line now
and then: games never wait for the store. Records count against the
queue's bounds until they are committed, in the sink's hands too.

Where the rows are built and inserted is the sink's business:
:class:`LocalSink` does it on the writer thread with an :class:`Engine`;
:class:`~.process.ProcessSink` (the default) ships each batch, packed, to a
writer process that does it there, so that none of that work takes the
GIL from the event loop.

A batch the database refuses for a passing reason (locked, disk full,
connection lost) is retried with backoff until it goes in, or until
``close()`` gives up after ``close_timeout``; a batch it refuses for good
(a malformed record, a constraint) is logged and counted as lost, and the
writer goes on. An engine subclass supplies the transaction.
"""

from __future__ import annotations

import abc
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..records import GameRecord
from .rows import PackedRecord, batch_ids, pack_record, packed_rows

__all__ = [
    "CLOSE_TIMEOUT",
    "COMMIT_INTERVAL",
    "MAX_PENDING",
    "MAX_PENDING_BYTES",
    "MAX_TRANSACTION",
    "MAX_TRANSACTION_BYTES",
    "WAKE_EVERY",
    "WARN_INTERVAL",
    "WRITERS",
    "BatchFailed",
    "BatchWriter",
    "Engine",
    "LocalSink",
    "Sink",
]

log = logging.getLogger("guessgame.store")

#: Seconds between commits while records wait. A SIGKILL loses at most the
#: games of the last interval plus one batch's write time: well under 1 s.
#: Every batch wakes the writer thread and the writer process, which on a
#: server whose cores are busy costs round trips beyond its CPU time (at
#: 0.1 s, serve under bench -c 64 gave 0.77-0.79 of serve --no-db's round
#: trips/s; at 0.25 s, 0.82-0.90; at 1 s, 0.90).
COMMIT_INTERVAL = 0.25
#: The writer is woken early every this many queued records, so a burst is
#: written in batches of about this size instead of one huge one.
WAKE_EVERY = 4000
#: Most records written in one transaction, which bounds how long other
#: servers on the same database wait for its locks.
MAX_TRANSACTION = 4000
#: Most memory the records of one transaction may hold (counted as the
#: queue counts it): what the writer process holds at once, with their rows.
#: Typical games fill :data:`MAX_TRANSACTION` first (about 2.4 MB); games
#: of 1000 guesses go about 400 a transaction.
MAX_TRANSACTION_BYTES = 4 * 1024 * 1024
#: Most records waiting for the writer: several seconds of a busy server's
#: games, enough to ride out another process's long lock or a database restart.
MAX_PENDING = 50_000
#: Most memory the records waiting for the writer may hold, counted as
#: :data:`RECORD_OVERHEAD` plus :data:`GUESS_BYTES` per guess. Typical games
#: take about 600 bytes, so MAX_PENDING comes first; games of 1000 guesses
#: (``--max-guesses``) take 9.5 KB, and this bound holds about 7,000 of them.
MAX_PENDING_BYTES = 64 * 1024 * 1024
#: What a record takes in memory besides its guesses: the tuple, its times,
#: bounds and peer, the packed guesses' two containers.
RECORD_OVERHEAD = 512
#: What each guess adds (:class:`~guessgame.records.Guesses`: 8 + 1 bytes).
GUESS_BYTES = 9
#: Seconds between two warning lines about dropped records or a failing database.
WARN_INTERVAL = 5.0
#: Seconds ``close()`` keeps retrying writes the database refuses.
CLOSE_TIMEOUT = 30.0
#: Longest pause between two attempts at a batch the database refused.
MAX_BACKOFF = 1.0
#: Where a store's rows are built and inserted: ``process``, a writer
#: process of its own (the default); ``thread``, the writer thread itself.
WRITERS = ("process", "thread")

Row = tuple[Any, ...]
#: What a writer process needs to open an engine: its kind (``sqlite``,
#: ``postgres``) and the keyword arguments of its class, plain values only.
EngineSpec = tuple[str, dict[str, Any]]


class Engine(abc.ABC):
    """One connection to a database that inserts batches of game rows."""

    #: Where the rows go, for log lines (a path, a URL without password).
    where: str

    @abc.abstractmethod
    def insert(self, rows: list[Row]) -> None:
        """Insert ``rows`` (columns :data:`~.rows.GAME_COLUMNS`) in one
        transaction; raise if it was not committed. Inserting the same rows
        again after an unclear failure must not duplicate them."""

    @abc.abstractmethod
    def retryable(self, exc: Exception) -> bool:
        """Whether a later attempt at the same batch may succeed."""

    @abc.abstractmethod
    def release(self) -> None:
        """Close the database connection."""

    def counters(self) -> dict[str, int]:
        """Counts worth reporting (a reconnecting engine's reconnects)."""
        return {}


class BatchFailed(Exception):
    """A batch was not committed: ``retryable`` if a later attempt may
    succeed; ``line`` says why on one line, ``detail`` (the exception's
    repr) for a batch refused for good."""

    def __init__(self, retryable: bool, line: str, detail: str) -> None:
        super().__init__(line)
        self.retryable = retryable
        self.line = line
        self.detail = detail


class Sink(abc.ABC):
    """Commits the batches of one writer thread, one at a time: :meth:`send`
    hands one over, :meth:`attempt` tries to commit it (again, after a
    retryable failure) until it succeeds or :meth:`drop` gives up on it.
    Only the writer thread calls these."""

    @abc.abstractmethod
    def send(self, packed: list[PackedRecord], seed: bytes) -> None:
        """Take the next batch; ``seed`` makes its ids (:func:`~.rows.batch_ids`)."""

    @abc.abstractmethod
    def attempt(self) -> None:
        """Commit the batch; :class:`BatchFailed` if it was not."""

    @abc.abstractmethod
    def drop(self) -> None:
        """Give up on the batch."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the database (no batch is in hand)."""

    @abc.abstractmethod
    def counters(self) -> dict[str, int]:
        """The engine's counts, as of the last attempt."""

    @property
    def pid(self) -> int | None:
        """The process that inserts, if not this one."""
        return None


def build_rows(packed: Sequence[PackedRecord], seed: bytes) -> list[Row]:
    """The rows of a batch, ids included (``seed`` makes them):
    :class:`BatchFailed` for a malformed record, which costs its batch."""
    try:
        return packed_rows(packed, batch_ids([p[6] for p in packed], seed))
    except Exception as exc:
        raise BatchFailed(False, _one_line(exc), repr(exc)) from None


def attempt_insert(engine: Engine, rows: list[Row]) -> None:
    """``engine.insert(rows)``, its failure as :class:`BatchFailed`."""
    try:
        engine.insert(rows)
    except Exception as exc:
        raise BatchFailed(engine.retryable(exc), _one_line(exc), repr(exc)) from None


def transactions(taken: list[PackedRecord], size: int) -> Iterator[list[PackedRecord]]:
    """``taken`` (records holding ``size`` bytes as the queue counts them)
    cut into transactions of at most :data:`MAX_TRANSACTION` records and
    :data:`MAX_TRANSACTION_BYTES` bytes, in order. A record larger than
    the bound goes alone."""
    if size <= MAX_TRANSACTION_BYTES:
        # The usual case: cut by count alone, no Python loop over the
        # records on the writer thread (the GIL is the event loop's to want).
        for start in range(0, len(taken), MAX_TRANSACTION):
            yield taken[start : start + MAX_TRANSACTION]
        return
    batch: list[PackedRecord] = []
    held = 0
    for packed in taken:
        record_size = RECORD_OVERHEAD + GUESS_BYTES * len(packed[9])
        if batch and (len(batch) >= MAX_TRANSACTION or held + record_size > MAX_TRANSACTION_BYTES):
            yield batch
            batch, held = [], 0
        batch.append(packed)
        held += record_size
    if batch:
        yield batch


class LocalSink(Sink):
    """Builds and inserts the rows on the writer thread itself."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._rows: list[Row] | None = None

    def send(self, packed: list[PackedRecord], seed: bytes) -> None:
        self._rows = None
        self._rows = build_rows(packed, seed)

    def attempt(self) -> None:
        assert self._rows is not None, "no batch in hand"
        attempt_insert(self.engine, self._rows)
        self._rows = None

    def drop(self) -> None:
        self._rows = None

    def close(self) -> None:
        self.engine.release()

    def counters(self) -> dict[str, int]:
        return self.engine.counters()


class BatchWriter:
    """A store's queue and writer thread. Subclasses open and check their
    database, then call :meth:`_start` with what opens their engine."""

    #: Where the records go, for log lines (a path, a URL without password).
    where: str

    def __init__(
        self,
        *,
        commit_interval: float = COMMIT_INTERVAL,
        max_pending: int = MAX_PENDING,
        max_pending_bytes: int = MAX_PENDING_BYTES,
        close_timeout: float = CLOSE_TIMEOUT,
        writer: str = "process",
    ) -> None:
        if max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        if max_pending_bytes < RECORD_OVERHEAD:
            raise ValueError(f"max_pending_bytes must be at least {RECORD_OVERHEAD}")
        if writer not in WRITERS:
            raise ValueError(f"writer must be one of {', '.join(WRITERS)}")
        #: ``process`` or ``thread``: where rows are built and inserted.
        self.writer = writer
        self._interval = commit_interval
        self._close_timeout = close_timeout
        #: The packed records waiting for the writer, which takes them all
        #: at once (a new list takes their place).
        self._pending: list[PackedRecord] = []
        #: Set to 0 by close(), which sends every later record() to _drop().
        self._capacity = max_pending
        #: Records not committed yet (queued, or in the writer's hands),
        #: which ``_capacity`` bounds.
        self._held = 0
        #: What the records not yet committed hold (queued, or in the
        #: writer's hands), and its bound; what the queued ones hold.
        self._bytes = 0
        self._max_bytes = max_pending_bytes
        self._queued_bytes = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._give_up_at = float("inf")
        self._closed = False
        self._close_lock = threading.Lock()
        self._drop_lock = threading.Lock()
        self._dropped = 0
        self._dropped_warned = 0
        self._last_warning: dict[str, float] = {}
        # flush(): the writer reports each request it saw before a full drain.
        self._flushed = threading.Condition()
        self._flush_requested = 0
        self._flush_done = 0
        #: Records committed, and records given up (refused, or still
        #: failing when close_timeout ran out).
        self.written = 0
        self.lost = 0
        self._sink: Sink | None = None
        #: Opens the sink on the writer thread, which then owns it.
        self._open_sink: Callable[[], None] | None = None
        self._thread = threading.Thread(target=self._run, name="guessgame-store", daemon=True)

    def _start(self, spec: EngineSpec, open_engine: Callable[[], Engine] | None = None) -> None:
        """Start the writer thread, its sink opened first. ``spec`` opens the
        engine in a writer process; with ``writer="thread"``,
        ``open_engine`` (if given; else the spec) opens it here. Raises what
        opening raises (:class:`~guessgame.store.StoreError`)."""
        if self.writer == "thread":
            from .process import engine_from_spec

            engine = open_engine() if open_engine is not None else engine_from_spec(spec)
            self._sink = LocalSink(engine)
            self._thread.start()
            return
        from .process import ProcessSink

        # The writer thread starts the process and owns it: the process is
        # bound to the life of the thread that started it (it dies with it,
        # as an in-process writer would, when the server is killed).
        started: list[BaseException | None] = []
        ready = threading.Event()

        def open_sink() -> None:
            try:
                self._sink = ProcessSink(spec)
            except BaseException as exc:
                started.append(exc)
            else:
                started.append(None)
            ready.set()

        self._open_sink = open_sink
        self._thread.start()
        ready.wait()
        if started[0] is not None:
            self._thread.join()
            raise started[0]

    # -- the hot path: called by the servers --------------------------------

    def record(self, record: GameRecord) -> None:
        """Queue one finished game; drops and counts it if the queue is full."""
        # Packed here, on the caller's thread (the event loop): a few
        # hundred nanoseconds a game. Packed by the writer thread, a batch
        # at a time, the same work held the GIL in a Python loop while the
        # event loop wanted it, and the two handed it back and forth
        # (benchmarks/suite.py: a fifth fewer round trips at 64 connections).
        try:
            packed = pack_record(record)
        except Exception as exc:
            # A malformed record: it costs itself, never the caller.
            self._refused(1, repr(exc))
            return
        size = RECORD_OVERHEAD + GUESS_BYTES * len(packed[9])
        # Threads of the threaded backend record at once.
        with self._lock:
            pending = self._pending
            if self._held >= self._capacity or self._bytes + size > self._max_bytes:
                full = True
            else:
                full = False
                pending.append(packed)
                self._held += 1
                self._bytes += size
                self._queued_bytes += size
        if full:
            self._drop()
        elif len(pending) % WAKE_EVERY == 0:
            self._wake.set()

    def _drop(self) -> None:
        with self._drop_lock:
            self._dropped += 1
        if self._closed:
            log.warning("a game ended after the store was closed; not recorded")

    # -- lifecycle ------------------------------------------------------------

    @property
    def dropped(self) -> int:
        """Records dropped because the queue was full (or the store closed)."""
        return self._dropped

    @property
    def pending(self) -> int:
        """Records waiting for the writer."""
        return len(self._pending)

    @property
    def writer_pid(self) -> int | None:
        """The writer process's id (None with ``writer="thread"``, or while
        none runs)."""
        sink = self._sink
        return None if sink is None else sink.pid

    @property
    def pending_bytes(self) -> int:
        """The memory they hold, as :data:`MAX_PENDING_BYTES` counts it."""
        return self._bytes

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every record queued so far is committed (for tests and
        tools; servers never call it). False if ``timeout`` ran out."""
        with self._flushed:
            self._flush_requested += 1
            wanted = self._flush_requested
            self._wake.set()
            return self._flushed.wait_for(lambda: self._flush_done >= wanted, timeout)

    def close(self) -> None:
        """Commit every queued record, stop the writer, release the database."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            self._capacity = 0
            self._give_up_at = time.monotonic() + self._close_timeout
            self._stopping = True
            self._wake.set()
            if self._thread.ident is not None:
                self._thread.join()
        log.info("recorded %d games in %s", self.written, self.where)
        if self._dropped or self.lost:
            log.warning(
                "%d games were not recorded (%d dropped while the store was behind, "
                "%d the database refused)",
                self._dropped + self.lost,
                self._dropped,
                self.lost,
            )

    def __enter__(self) -> BatchWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the writer thread ----------------------------------------------------

    def _run(self) -> None:
        if self._open_sink is not None:
            self._open_sink()
        sink = self._sink
        if sink is None:
            return  # the sink did not open; _start raises why
        try:
            self._drain()
        finally:
            sink.close()

    def _drain(self) -> None:
        while True:
            stopping = self._stopping
            if not stopping:
                self._wake.wait(self._interval)
                self._wake.clear()
                stopping = self._stopping
            # Everything queued before this flush request is in the queue now.
            flush_seen = self._flush_requested
            while True:
                # Take the whole queue: no Python loop over its records
                # here, where the GIL is the event loop's to want.
                with self._lock:
                    taken, size = self._pending, self._queued_bytes
                    if not taken:
                        break
                    self._pending, self._queued_bytes = [], 0
                for batch in transactions(taken, size):
                    try:
                        self._write(batch)
                    except Exception as exc:  # a bug must cost its batch, not the writer
                        log.exception("the store's writer failed")
                        self._refused(len(batch), repr(exc))
                with self._lock:
                    self._held -= len(taken)
                    self._bytes -= size
            if flush_seen != self._flush_done:
                with self._flushed:
                    self._flush_done = flush_seen
                    self._flushed.notify_all()
            self._warn_drops()
            if stopping and not self._pending:
                return

    def _write(self, batch: list[PackedRecord]) -> None:
        """Commit one batch, retrying while the database refuses it for a
        passing reason. Its ids come from one seed chosen here, so a retry
        after an unclear failure inserts the very same games."""
        sink = self._sink
        assert sink is not None
        try:
            sink.send(batch, os.urandom(10))
        except BatchFailed as failure:
            # A malformed record: it must cost this batch, not the writer.
            self._refused(len(batch), failure.detail)
            return
        delay = 0.01
        while True:
            try:
                sink.attempt()
            except BatchFailed as failure:
                if not failure.retryable:
                    # A constraint, a corrupt file, a bug: no retry would succeed.
                    sink.drop()
                    self._refused(len(batch), failure.detail)
                    return
                if time.monotonic() >= self._give_up_at:
                    sink.drop()
                    log.error(
                        "giving up on %d games: could not record them in %s: %s",
                        len(batch),
                        self.where,
                        failure.line,
                    )
                    self._lose(len(batch))
                    return
                self._warn(
                    "write",
                    "cannot write to %s (%s); retrying, %d games waiting",
                    self.where,
                    failure.line,
                    len(batch) + len(self._pending),
                )
                time.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)
                self._warn_drops()
            else:
                self.written += len(batch)
                return

    def _refused(self, games: int, detail: str) -> None:
        log.error("could not record %d games in %s: %s", games, self.where, detail)
        self._lose(games)

    def _lose(self, games: int) -> None:
        # The writer thread and, for a malformed record, record()'s callers.
        with self._drop_lock:
            self.lost += games

    def _warn_drops(self) -> None:
        dropped = self._dropped
        if dropped != self._dropped_warned and self._warn(
            "drops",
            "store falling behind: dropped %d game records (%d in all); %d waiting",
            dropped - self._dropped_warned,
            dropped,
            len(self._pending),
        ):
            self._dropped_warned = dropped

    def _warn(self, kind: str, message: str, *args: object) -> bool:
        """Log a warning unless one of its kind was logged less than
        :data:`WARN_INTERVAL` ago; True if it was logged."""
        now = time.monotonic()
        if now - self._last_warning.get(kind, float("-inf")) < WARN_INTERVAL:
            return False
        self._last_warning[kind] = now
        log.warning(message, *args)
        return True


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
