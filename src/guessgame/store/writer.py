"""The part every database store shares: a bounded queue that the servers
append to, and one writer thread that commits it in batches.

Servers hand records to :meth:`BatchWriter.record`, which only appends to
an in-memory queue: it is called on the event loop and on connection
threads, so it must cost a few hundred nanoseconds and never wait for I/O.
The writer thread drains the queue and commits in batches, one transaction
per batch, at least every :data:`COMMIT_INTERVAL` seconds while records
wait. When the queue is full (the disk stalled, the database is locked or
unreachable), new records are dropped and counted, and the writer logs a
warning line now and then: games never wait for the store.

A batch the database refuses for a passing reason (locked, disk full,
connection lost) is retried with backoff until it goes in, or until
``close()`` gives up after ``close_timeout``; a batch it refuses for good
(a malformed record, a constraint) is logged and counted as lost, and the
writer goes on. An engine subclass supplies the transaction.
"""

from __future__ import annotations

import abc
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from ..records import GameRecord
from .rows import game_ids, game_rows

__all__ = [
    "CLOSE_TIMEOUT",
    "COMMIT_INTERVAL",
    "MAX_PENDING",
    "MAX_PENDING_BYTES",
    "MAX_TRANSACTION",
    "WAKE_EVERY",
    "WARN_INTERVAL",
    "BatchWriter",
]

log = logging.getLogger("guessgame.store")

#: Seconds between commits while records wait. A SIGKILL loses at most the
#: games of the last interval plus one batch's write time: well under 1 s.
COMMIT_INTERVAL = 0.1
#: The writer is woken early every this many queued records, so a burst is
#: written in batches of about this size instead of one huge one.
WAKE_EVERY = 1000
#: Most records written in one transaction, which bounds how long other
#: servers on the same database wait for its locks.
MAX_TRANSACTION = 4000
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

Row = tuple[Any, ...]


class BatchWriter(abc.ABC):
    """A store's queue and writer thread. Subclasses open their database,
    then call :meth:`_start`; they implement :meth:`_insert`,
    :meth:`_retryable` and :meth:`_release`."""

    #: Where the records go, for log lines (a path, a URL without password).
    where: str

    def __init__(
        self,
        *,
        commit_interval: float = COMMIT_INTERVAL,
        max_pending: int = MAX_PENDING,
        max_pending_bytes: int = MAX_PENDING_BYTES,
        close_timeout: float = CLOSE_TIMEOUT,
    ) -> None:
        if max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        if max_pending_bytes < RECORD_OVERHEAD:
            raise ValueError(f"max_pending_bytes must be at least {RECORD_OVERHEAD}")
        self._interval = commit_interval
        self._close_timeout = close_timeout
        self._pending: deque[GameRecord] = deque()
        #: Set to 0 by close(), which sends every later record() to _drop().
        self._capacity = max_pending
        #: What the queued records hold, and its bound.
        self._bytes = 0
        self._max_bytes = max_pending_bytes
        self._bytes_lock = threading.Lock()
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
        self._thread = threading.Thread(target=self._run, name="guessgame-store", daemon=True)

    def _start(self) -> None:
        self._thread.start()

    # -- the hot path: called by the servers --------------------------------

    def record(self, record: GameRecord) -> None:
        """Queue one finished game; drops and counts it if the queue is full."""
        pending = self._pending
        size = RECORD_OVERHEAD + GUESS_BYTES * len(record.guesses)
        # Threads of the threaded backend record at once: the sum needs the
        # lock (uncontended, about 50 ns a game); the deque needs none.
        with self._bytes_lock:
            full = len(pending) >= self._capacity or self._bytes + size > self._max_bytes
            if not full:
                self._bytes += size
        if full:
            self._drop()
            return
        pending.append(record)
        if len(pending) % WAKE_EVERY == 0:
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
            self._release()
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

    # -- what an engine supplies ----------------------------------------------

    @abc.abstractmethod
    def _insert(self, rows: list[Row]) -> None:
        """Insert ``rows`` (columns :data:`~.rows.GAME_COLUMNS`) in one
        transaction; raise if it was not committed. Inserting the same rows
        again after an unclear failure must not duplicate them."""

    @abc.abstractmethod
    def _retryable(self, exc: Exception) -> bool:
        """Whether a later attempt at the same batch may succeed."""

    @abc.abstractmethod
    def _release(self) -> None:
        """Close the database connection (the writer has stopped)."""

    # -- the writer thread ----------------------------------------------------

    def _run(self) -> None:
        pending = self._pending
        while True:
            stopping = self._stopping
            if not stopping:
                self._wake.wait(self._interval)
                self._wake.clear()
                stopping = self._stopping
            # Everything queued before this flush request is in the queue now.
            flush_seen = self._flush_requested
            while pending:
                n = min(len(pending), MAX_TRANSACTION)
                batch = [pending.popleft() for _ in range(n)]
                self._write(batch)
                size = RECORD_OVERHEAD * n + GUESS_BYTES * sum(len(r.guesses) for r in batch)
                with self._bytes_lock:
                    self._bytes -= size
            if flush_seen != self._flush_done:
                with self._flushed:
                    self._flush_done = flush_seen
                    self._flushed.notify_all()
            self._warn_drops()
            if stopping and not pending:
                return

    def _write(self, batch: Sequence[GameRecord]) -> None:
        """Commit one batch, retrying while the database refuses it for a
        passing reason. The rows, ids included, are built once, so a retry
        after an unclear failure inserts the very same games."""
        try:
            rows = game_rows(batch, game_ids(batch))
        except Exception as exc:
            # A malformed record: it must cost this batch, not the writer.
            self._refused(batch, exc)
            return
        delay = 0.01
        while True:
            try:
                self._insert(rows)
            except Exception as exc:
                if not self._retryable(exc):
                    # A constraint, a corrupt file, a bug: no retry would succeed.
                    self._refused(batch, exc)
                    return
                if time.monotonic() >= self._give_up_at:
                    log.error(
                        "giving up on %d games: could not record them in %s: %s",
                        len(batch),
                        self.where,
                        _one_line(exc),
                    )
                    self.lost += len(batch)
                    return
                self._warn(
                    "write",
                    "cannot write to %s (%s); retrying, %d games waiting",
                    self.where,
                    _one_line(exc),
                    len(batch) + len(self._pending),
                )
                time.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)
                self._warn_drops()
            else:
                self.written += len(batch)
                return

    def _refused(self, batch: Sequence[GameRecord], exc: Exception) -> None:
        log.error("could not record %d games in %s: %r", len(batch), self.where, exc)
        self.lost += len(batch)

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
