"""The embedded store: every finished game in one SQLite file.

Servers hand records to :meth:`SqliteStore.record`, which only appends to
an in-memory queue: it is called on the event loop and on connection
threads, so it must cost a few microseconds and never wait for the disk.
One writer thread drains the queue and commits in batches, one
transaction per batch, at least every :data:`COMMIT_INTERVAL` seconds while
records wait. When the queue is full (the disk stalled, another process
holds the database for long), new records are dropped and counted, and the
writer logs a warning line now and then: games never wait for the store.

Several servers may share one file: the database runs in WAL mode, every
connection has a busy timeout, and the writer retries a batch the database
refused because it was locked. Game ids are time-ordered random UUIDs
(version 7), so they stay unique across servers and databases.

The schema carries its version in ``PRAGMA user_version``;
:data:`MIGRATIONS` brings any older database up to date when it opens.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from ..protocol import Decision
from ..records import GameRecord, Outcome
from . import StoreError

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "SqliteStore",
    "check_version",
    "connect_readonly",
    "open_database",
    "read_games",
    "schema_version",
    "size_decade",
]

log = logging.getLogger("guessgame.store")

#: Seconds a connection waits for another one's lock before SQLite reports
#: the database busy. Other servers' batches hold it for milliseconds.
BUSY_TIMEOUT = 5.0
#: Seconds between commits while records wait. A SIGKILL loses at most the
#: games of the last interval plus one batch's write time: well under 1 s.
COMMIT_INTERVAL = 0.1
#: The writer is woken early every this many queued records, so a burst is
#: written in batches of about this size instead of one huge one.
WAKE_EVERY = 1000
#: Most records written in one transaction, which bounds how long other
#: servers on the same file wait for the write lock.
MAX_TRANSACTION = 4000
#: Most records waiting for the writer. A record with a dozen guesses takes
#: about 1–2 KB, so this bounds the queue to tens of MB: several seconds of
#: a busy server's games, enough to ride out another process's long lock.
MAX_PENDING = 50_000
#: Seconds between two warning lines about dropped records or a failing disk.
WARN_INTERVAL = 5.0
#: Seconds ``close()`` keeps retrying writes the database refuses.
CLOSE_TIMEOUT = 30.0


# -- the schema ---------------------------------------------------------------

_V1 = (
    # One row per game. ``key`` is the row's number in this file, which the
    # writer assigns and the guesses refer to: small, and always appended at
    # the end of both tables' B-trees. ``id`` is the game's identity beyond
    # this file: a UUIDv7, unique across every server writing any database,
    # ordered by the game's end.
    """
    CREATE TABLE games (
        key         INTEGER PRIMARY KEY,
        id          TEXT NOT NULL UNIQUE,
        lower       INTEGER NOT NULL,
        upper       INTEGER NOT NULL,
        strategy    TEXT NOT NULL,
        backend     TEXT NOT NULL,
        peer        TEXT NOT NULL,
        started_at  REAL NOT NULL,
        ended_at    REAL NOT NULL,
        outcome     TEXT NOT NULL CHECK (outcome IN ('won', 'abandoned', 'error')),
        guess_count INTEGER NOT NULL
    )
    """,
    # Every guess of a game in order; decision NULL for an unreported guess.
    """
    CREATE TABLE guesses (
        game_key INTEGER NOT NULL REFERENCES games (key),
        seq      INTEGER NOT NULL,
        guess    INTEGER NOT NULL,
        decision TEXT CHECK (decision IN ('warmer', 'colder', 'unsure', 'correct')),
        PRIMARY KEY (game_key, seq)
    ) WITHOUT ROWID
    """,
)


def size_decade(lower: int, upper: int) -> int:
    """The power-of-ten bucket of a range's size N = upper - lower + 1:
    ``k`` such that ``10**k <= N < 10**(k+1)``. Exact for every 64-bit range
    (N reaches 2**64, which SQLite's integers cannot hold)."""
    return len(str(max(upper - lower + 1, 1))) - 1


def _v2(conn: sqlite3.Connection) -> None:
    """Version 2: the size bucket of every game, and covering indexes so
    that ``stats`` aggregates from the indexes alone."""
    conn.execute("ALTER TABLE games ADD COLUMN size_decade INTEGER NOT NULL DEFAULT 0")
    conn.create_function("guessgame_size_decade", 2, size_decade, deterministic=True)
    conn.execute("UPDATE games SET size_decade = guessgame_size_decade(lower, upper)")
    conn.execute("CREATE INDEX games_by_strategy ON games (strategy, outcome, guess_count)")
    conn.execute("CREATE INDEX games_by_size ON games (size_decade, outcome, guess_count)")


def _script(statements: Sequence[str]) -> Callable[[sqlite3.Connection], None]:
    def apply(conn: sqlite3.Connection) -> None:
        for statement in statements:
            conn.execute(statement)

    return apply


#: Migration ``i`` turns a version-``i`` database into version ``i + 1``
#: (version 0: empty). Append only; never edit one that has shipped.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_script(_V1), _v2)
#: The version this code writes and reads.
SCHEMA_VERSION = len(MIGRATIONS)

_GAME_COLUMNS = (
    "key, id, lower, upper, size_decade, strategy, backend, peer,"
    " started_at, ended_at, outcome, guess_count"
)
_GAME_WIDTH = 12
_GUESS_COLUMNS = "game_key, seq, guess, decision"
_GUESS_WIDTH = 4

# Rows go in as multi-row INSERTs of up to this many parameters: SQLite's
# limit (999 before 3.32). One statement per few thousand rows instead of
# one per row matters twice: less overhead, and the sqlite3 module releases
# the GIL around each statement step, and on a busy server every
# reacquisition can wait a whole switch interval (5 ms).
_MAX_PARAMS = 32766 if sqlite3.sqlite_version_info >= (3, 32) else 999


@functools.lru_cache(maxsize=64)
def _insert_sql(table: str, columns: str, width: int, rows: int) -> str:
    row = "(" + ",".join("?" * width) + ")"
    return f"INSERT INTO {table} ({columns}) VALUES " + ",".join([row] * rows)


def _insert_rows(
    conn: sqlite3.Connection, table: str, columns: str, width: int, values: list[object]
) -> None:
    """Insert the rows of ``values`` (flat, ``width`` per row), in statements
    of power-of-two row counts so that a handful of statements is reused."""
    limit = 1 << ((_MAX_PARAMS // width).bit_length() - 1)
    rows = len(values) // width
    done = 0
    while done < rows:
        n = min(limit, 1 << ((rows - done).bit_length() - 1))
        conn.execute(
            _insert_sql(table, columns, width, n), values[done * width : (done + n) * width]
        )
        done += n


# -- opening ------------------------------------------------------------------


def open_database(
    path: Path, *, busy_timeout: float = BUSY_TIMEOUT, target: int = SCHEMA_VERSION
) -> sqlite3.Connection:
    """A connection to the game database at ``path``, created (with its
    directory) if missing, in WAL mode, its schema migrated to ``target``.

    Everything that can go wrong with the file goes wrong here, as a
    :class:`StoreError` with a one-line message: an unwritable or
    uncreatable directory, a read-only, locked or corrupt file, a database
    of another application or of a newer guessgame.
    """
    if path.is_dir():
        raise StoreError(f"cannot use database {path}: it is a directory")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"cannot create the database directory {path.parent}: {_reason(exc)}"
        ) from None
    if not path.exists() and not os.access(path.parent, os.W_OK | os.X_OK):
        raise StoreError(f"cannot create database {path}: directory is not writable")
    conn: sqlite3.Connection | None = None
    try:
        # isolation_level=None: transactions are begun and ended explicitly.
        conn = sqlite3.connect(
            path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        # WAL: readers (stats, other servers) never block the writer, and a
        # killed process leaves a database that recovers on the next open.
        conn.execute("PRAGMA journal_mode = WAL").fetchone()
        # In WAL mode NORMAL loses nothing when a process dies, only on power
        # loss; FULL would fsync every commit.
        conn.execute("PRAGMA synchronous = NORMAL")
        _migrate(conn, path, target)
    except sqlite3.Error as exc:
        if conn is not None:
            conn.close()
        raise StoreError(_describe(exc, path)) from None
    except BaseException:
        if conn is not None:
            conn.close()
        raise
    return conn


def connect_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection to an existing database; :class:`StoreError`
    if it is missing or unreadable. Leaves the schema as it is."""
    if not path.exists():
        raise StoreError(f"no database at {path}")
    if path.is_dir():
        raise StoreError(f"cannot use database {path}: it is a directory")
    try:
        conn = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro",
            uri=True,
            timeout=BUSY_TIMEOUT,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except BaseException:
            conn.close()
            raise
    except sqlite3.Error as exc:
        raise StoreError(_describe(exc, path)) from None
    return conn


def schema_version(conn: sqlite3.Connection) -> int:
    """The database's schema version (``PRAGMA user_version``)."""
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def check_version(conn: sqlite3.Connection, path: Path) -> int:
    """The schema version, or :class:`StoreError` if no guessgame made it."""
    version = schema_version(conn)
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"database {path} has schema version {version}, newer than this "
            f"guessgame knows ({SCHEMA_VERSION}); upgrade guessgame"
        )
    if version == 0:
        (tables,) = conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
        ).fetchone()
        if tables:
            raise StoreError(f"{path} is an SQLite database of something else, not of guessgame")
    return version


def _migrate(conn: sqlite3.Connection, path: Path, target: int) -> None:
    # IMMEDIATE takes the write lock before the version is read, so servers
    # starting together on a new file migrate it once, one after the other.
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = check_version(conn, path)
        for migration in MIGRATIONS[version:target]:
            migration(conn)
        if version < target:
            # PRAGMA takes no parameters; target is an int we computed.
            conn.execute(f"PRAGMA user_version = {int(target)}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    if 0 < version < target:
        log.info("migrated %s from schema version %d to %d", path, version, target)


def _reason(exc: OSError) -> str:
    text = exc.strerror or str(exc)
    if exc.errno in (errno.EACCES, errno.EPERM):
        text = "permission denied"
    elif exc.errno == errno.EROFS:
        text = "read-only file system"
    return text[:1].lower() + text[1:]


def _describe(exc: sqlite3.Error, path: Path) -> str:
    """One line for the user about a database that cannot be used."""
    text = str(exc)
    if "file is not a database" in text:
        return f"{path} is not an SQLite database (corrupt, or some other file)"
    if "malformed" in text:
        return f"database {path} is corrupt ({text})"
    if "locked" in text or "busy" in text:
        return f"database {path} is locked by another process"
    if "readonly" in text or "read-only" in text:
        return f"cannot write to database {path}: it is read-only"
    if "unable to open" in text:
        if not os.access(path.parent, os.W_OK | os.X_OK):
            return f"cannot open database {path}: its directory is not writable"
        return f"cannot open database {path}"
    return f"cannot use database {path}: {text}"


# -- ids ----------------------------------------------------------------------


def _game_ids(records: Sequence[GameRecord]) -> list[str]:
    """A UUIDv7 per record: 48 bits of its end time in ms, 74 random bits.

    Random bits come from the OS, not from :mod:`random`, whose state a
    forked worker would share with its siblings.
    """
    entropy = os.urandom(10 * len(records))
    ids = []
    for i, record in enumerate(records):
        ms = min(max(int(record.ended_at * 1000), 0), 0xFFFF_FFFF_FFFF)
        bits = int.from_bytes(entropy[10 * i : 10 * i + 10], "big")
        value = (
            ms << 80
            | 0x7 << 76  # version 7
            | (bits >> 68) << 64  # 12 random bits
            | 0b10 << 62  # RFC 9562 variant
            | bits & 0x3FFF_FFFF_FFFF_FFFF  # 62 random bits
        )
        h = f"{value:032x}"
        ids.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return ids


# -- the store ----------------------------------------------------------------


class SqliteStore:
    """Records games into an SQLite file from one writer thread.

    Opening creates the file and its directory if needed and migrates the
    schema; it raises :class:`StoreError` if the file cannot be used.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        commit_interval: float = COMMIT_INTERVAL,
        max_pending: int = MAX_PENDING,
        busy_timeout: float = BUSY_TIMEOUT,
        close_timeout: float = CLOSE_TIMEOUT,
    ) -> None:
        if max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        self.path = Path(path).expanduser()
        self._conn = open_database(self.path, busy_timeout=busy_timeout)
        self._interval = commit_interval
        self._close_timeout = close_timeout
        self._pending: deque[GameRecord] = deque()
        #: Set to 0 by close(), which sends every later record() to _drop().
        self._capacity = max_pending
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
        #: Records committed, and records given up after close_timeout.
        self.written = 0
        self.lost = 0
        self._thread = threading.Thread(target=self._run, name="guessgame-store", daemon=True)
        self._thread.start()

    # -- the hot path: called by the servers --------------------------------

    def record(self, record: GameRecord) -> None:
        """Queue one finished game; drops and counts it if the queue is full."""
        pending = self._pending
        # deque.append and len are atomic under the GIL: no lock on this path.
        if len(pending) >= self._capacity:
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

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every record queued so far is committed (for tests and
        tools; servers never call it). False if ``timeout`` ran out."""
        with self._flushed:
            self._flush_requested += 1
            wanted = self._flush_requested
            self._wake.set()
            return self._flushed.wait_for(lambda: self._flush_done >= wanted, timeout)

    def close(self) -> None:
        """Commit every queued record, stop the writer, close the file."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            self._capacity = 0
            self._give_up_at = time.monotonic() + self._close_timeout
            self._stopping = True
            self._wake.set()
            self._thread.join()
            self._conn.close()
        log.info("recorded %d games in %s", self.written, self.path)
        if self._dropped or self.lost:
            log.warning(
                "%d games were not recorded (%d dropped while the store was behind, "
                "%d the database refused)",
                self._dropped + self.lost,
                self._dropped,
                self.lost,
            )

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
                self._write([pending.popleft() for _ in range(n)])
            if flush_seen != self._flush_done:
                with self._flushed:
                    self._flush_done = flush_seen
                    self._flushed.notify_all()
            self._warn_drops()
            if stopping and not pending:
                return

    def _write(self, batch: list[GameRecord]) -> None:
        """Commit one batch, retrying while the database refuses it."""
        ids = _game_ids(batch)
        delay = 0.01
        while True:
            try:
                self._insert(batch, ids)
            except sqlite3.OperationalError as exc:
                # Locked by another writer, disk full, an I/O error: worth a retry.
                if time.monotonic() >= self._give_up_at:
                    log.error(
                        "giving up on %d games: could not record them in %s: %s",
                        len(batch),
                        self.path,
                        exc,
                    )
                    self.lost += len(batch)
                    return
                self._warn(
                    "write",
                    "cannot write to %s (%s); retrying, %d games waiting",
                    self.path,
                    exc,
                    len(batch) + len(self._pending),
                )
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
                self._warn_drops()
            except Exception as exc:
                # A constraint, a corrupt file, a bug: no retry would succeed,
                # and it must cost this batch, not the writer.
                log.error("could not record %d games in %s: %r", len(batch), self.path, exc)
                self.lost += len(batch)
                return
            else:
                self.written += len(batch)
                return

    def _insert(self, batch: list[GameRecord], ids: list[str]) -> None:
        conn = self._conn
        # IMMEDIATE: take the write lock (waiting up to the busy timeout)
        # before reading the last key, so no other writer can take it too.
        conn.execute("BEGIN IMMEDIATE")
        try:
            (last,) = conn.execute("SELECT coalesce(max(key), 0) FROM games").fetchone()
            games: list[object] = []
            guesses: list[object] = []
            for key, (gid, r) in enumerate(zip(ids, batch, strict=True), last + 1):
                games += (
                    key,
                    gid,
                    r.lower,
                    r.upper,
                    size_decade(r.lower, r.upper),
                    r.strategy,
                    r.backend,
                    r.peer,
                    r.started_at,
                    r.ended_at,
                    r.outcome.value,
                    len(r.guesses),
                )
                for seq, (guess, decision) in enumerate(r.guesses):
                    guesses += (key, seq, guess, None if decision is None else decision.value)
            _insert_rows(conn, "games", _GAME_COLUMNS, _GAME_WIDTH, games)
            _insert_rows(conn, "guesses", _GUESS_COLUMNS, _GUESS_WIDTH, guesses)
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            raise

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


# -- reading back -------------------------------------------------------------


def read_games(conn: sqlite3.Connection) -> Iterator[tuple[str, GameRecord]]:
    """Every stored game with its id, in the order the games ended."""
    games = conn.execute(
        "SELECT key, id, lower, upper, strategy, backend, peer, started_at, ended_at, outcome"
        " FROM games ORDER BY ended_at, id"
    ).fetchall()
    moves: dict[int, list[tuple[int, Decision | None]]] = {}
    for key, guess, decision in conn.execute(
        "SELECT game_key, guess, decision FROM guesses ORDER BY game_key, seq"
    ):
        moves.setdefault(key, []).append((guess, None if decision is None else Decision(decision)))
    for key, gid, lower, upper, strategy, backend, peer, started, ended, outcome in games:
        yield (
            gid,
            GameRecord(
                lower=lower,
                upper=upper,
                strategy=strategy,
                backend=backend,
                peer=peer,
                started_at=started,
                ended_at=ended,
                outcome=Outcome(outcome),
                guesses=tuple(moves.get(key, ())),
            ),
        )
