"""The embedded store: every finished game in one SQLite file.

:class:`SqliteStore` is a :class:`~.writer.BatchWriter`: servers append to
its queue, one writer thread hands batches to a writer process, which
commits them (see :mod:`.writer` for the queue, the commit cadence, drops
and retries, :mod:`.process` for the process). A batch goes in as a few
multi-row INSERTs into one table without indexes: a game is one row, its
guesses a short string in it (:mod:`.rows`); the same transaction adds the
batch to ``game_tally``, which ``stats`` reads, and notes it in
``stored_batches``, so that a batch sent again is not stored twice.

Several servers may share one file: the database runs in WAL mode, every
connection has a busy timeout, and the writer retries a batch the database
refused because it was locked. Game ids are time-ordered random UUIDs
(version 7, :func:`~.rows.batch_ids`), so they stay unique across servers
and databases.

The schema carries its version in ``PRAGMA user_version``;
:data:`MIGRATIONS` brings any older database up to date when it opens.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import functools
import itertools
import logging
import os
import sqlite3
from collections.abc import Callable, Sequence
from operator import itemgetter
from pathlib import Path

from . import StoreError
from .rows import GAME_COLUMNS, GAME_WIDTH, MARK_BY_WORD, read_games, size_decade
from .writer import (
    CLOSE_TIMEOUT,
    COMMIT_INTERVAL,
    MAX_PENDING,
    MAX_PENDING_BYTES,
    BatchWriter,
    Engine,
    EngineSpec,
    Row,
)

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "SqliteEngine",
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


def _v3(conn: sqlite3.Connection) -> None:
    """Version 3: a game's guesses move into its own row (the ``guesses``
    text column, :mod:`.rows`), and the table of one row per guess goes."""
    conn.execute("ALTER TABLE games ADD COLUMN guesses TEXT NOT NULL DEFAULT ''")
    reader = conn.execute("SELECT game_key, guess, decision FROM guesses ORDER BY game_key, seq")
    conn.executemany(
        "UPDATE games SET guesses = ? WHERE key = ?",
        (
            (" ".join([f"{guess}{MARK_BY_WORD[word]}" for _, guess, word in moves]), key)
            for key, moves in itertools.groupby(reader, itemgetter(0))
        ),
    )
    conn.execute("DROP TABLE guesses")


_OUTCOME_IN = "CHECK (outcome IN ('won', 'abandoned', 'error'))"
_OUTCOME_OR = "CHECK (outcome = 'won' OR outcome = 'abandoned' OR outcome = 'error')"


def _v4(conn: sqlite3.Connection) -> None:
    """Version 4: the outcome's CHECK as comparisons, not an IN list.

    SQLite checks ``x IN (a, b, c)`` by building a temporary b-tree of the
    list for every row inserted: a quarter of the writer's work per game
    (callgrind, 1000 games a batch: 41,900 -> 32,700 instructions a game).
    The same constraint, written as three comparisons, is checked in place.
    Rewritten in the stored schema, as SQLite's documentation allows for a
    change of CHECK constraints (ALTER TABLE, "Making Other Kinds Of Table
    Schema Changes"): the rows already stored obey it, and their format
    does not change.
    """
    (sql,) = conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'games'"
    ).fetchone()
    if _OUTCOME_IN not in sql:
        raise sqlite3.DatabaseError("the games table has an unexpected schema")
    (schema,) = conn.execute("PRAGMA schema_version").fetchone()
    conn.execute("PRAGMA writable_schema = ON")
    try:
        conn.execute(
            "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'games'",
            (sql.replace(_OUTCOME_IN, _OUTCOME_OR),),
        )
        # Other connections reload the schema when its version changes.
        conn.execute(f"PRAGMA schema_version = {int(schema) + 1}")
    finally:
        conn.execute("PRAGMA writable_schema = OFF")


#: The games table of version 5: the columns of version 4, in their order,
#: without the UNIQUE constraint on ``id``.
_GAMES_V5 = f"""
    CREATE TABLE games_v5 (
        key         INTEGER PRIMARY KEY,
        id          TEXT NOT NULL,
        lower       INTEGER NOT NULL,
        upper       INTEGER NOT NULL,
        strategy    TEXT NOT NULL,
        backend     TEXT NOT NULL,
        peer        TEXT NOT NULL,
        started_at  REAL NOT NULL,
        ended_at    REAL NOT NULL,
        outcome     TEXT NOT NULL {_OUTCOME_OR},
        guess_count INTEGER NOT NULL,
        size_decade INTEGER NOT NULL,
        guesses     TEXT NOT NULL
    )
"""
_V4_COLUMNS = (
    "key, id, lower, upper, strategy, backend, peer, started_at, ended_at, outcome,"
    " guess_count, size_decade, guesses"
)
#: The tally ``stats`` reads: how many games of each kind, kept by the
#: writer in the transaction that inserts them (:func:`tally_rows`).
_TALLY_TABLE = """
    CREATE TABLE game_tally (
        strategy    TEXT NOT NULL,
        backend     TEXT NOT NULL,
        size_decade INTEGER NOT NULL,
        outcome     TEXT NOT NULL,
        guess_count INTEGER NOT NULL,
        games       INTEGER NOT NULL,
        PRIMARY KEY (strategy, backend, size_decade, outcome, guess_count)
    ) WITHOUT ROWID
"""
#: The batches stored lately, by their first game's id (:meth:`SqliteEngine.insert`).
_BATCHES_TABLE = """
    CREATE TABLE stored_batches (
        n        INTEGER PRIMARY KEY,
        first_id TEXT NOT NULL UNIQUE
    )
"""
_TALLY_KEY = "strategy, backend, size_decade, outcome, guess_count"


def _v5(conn: sqlite3.Connection) -> None:
    """Version 5: the games' tally for ``stats``; no index on the games.

    Each game row cost the writer four b-tree inserts: the table, the
    UNIQUE index on its 36-character id, and the two covering indexes of
    version 2. Those three indexes took more than half of the writer's
    work per game. ``stats`` now reads ``game_tally`` (a row per strategy,
    backend, size bucket, outcome and guess count: hundreds, however many
    games), kept in the same transaction as the games; a batch sent again
    is recognised by its first id in ``stored_batches`` instead of by a
    UNIQUE index (:meth:`SqliteEngine.insert`). SQLite cannot drop a
    UNIQUE constraint, so the table is copied (its rows keep their keys).
    """
    conn.execute(_GAMES_V5)
    conn.execute(f"INSERT INTO games_v5 ({_V4_COLUMNS}) SELECT {_V4_COLUMNS} FROM games")
    conn.execute("DROP TABLE games")  # and its indexes
    conn.execute("ALTER TABLE games_v5 RENAME TO games")
    conn.execute(_TALLY_TABLE)
    conn.execute(
        f"INSERT INTO game_tally ({_TALLY_KEY}, games)"
        f" SELECT {_TALLY_KEY}, count(*) FROM games GROUP BY {_TALLY_KEY}"
    )
    conn.execute(_BATCHES_TABLE)


#: Migration ``i`` turns a version-``i`` database into version ``i + 1``
#: (version 0: empty). Append only; never edit one that has shipped.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _script(_V1),
    _v2,
    _v3,
    _v4,
    _v5,
)
#: The version this code writes and reads.
SCHEMA_VERSION = len(MIGRATIONS)

# Rows go in as multi-row INSERTs of up to this many parameters: SQLite's
# limit (999 before 3.32). One statement per couple of thousand games, not
# one per game (executemany), matters twice: less overhead, and the sqlite3
# module releases the GIL around each statement step, and on a busy server
# every reacquisition can wait a whole switch interval (5 ms).
_MAX_PARAMS = 32766 if sqlite3.sqlite_version_info >= (3, 32) else 999
#: Most rows in one INSERT: a power of two, so a handful of statements
#: (1, 2, 4, ... rows) covers every batch and stays in the statement cache.
_MAX_ROWS = 1 << ((_MAX_PARAMS // GAME_WIDTH).bit_length() - 1)


@functools.lru_cache(maxsize=32)
def _insert_sql(rows: int) -> str:
    row = "(" + ",".join("?" * GAME_WIDTH) + ")"
    return f"INSERT INTO games ({GAME_COLUMNS}) VALUES " + ",".join([row] * rows)


_TALLY_OF_ROW = itemgetter(4, 5, 3, 9, 10)  # _TALLY_KEY's columns in GAME_COLUMNS
_ADD_TALLY = (
    f"INSERT INTO game_tally ({_TALLY_KEY}, games) VALUES (?, ?, ?, ?, ?, ?)"
    f" ON CONFLICT ({_TALLY_KEY}) DO UPDATE SET games = games + excluded.games"
)
#: How many of the latest batches ``stored_batches`` remembers. A batch is
#: sent again only right after an attempt whose end the server did not
#: learn (its writer process died): within seconds, while every server on
#: the file stores a few batches a second.
KEEP_BATCHES = 10_000


def tally_rows(conn: sqlite3.Connection, rows: Sequence[Row]) -> None:
    """Add ``rows`` (columns :data:`~.rows.GAME_COLUMNS`) to ``game_tally``."""
    counts = collections.Counter(map(_TALLY_OF_ROW, rows))
    conn.executemany(_ADD_TALLY, [(*key, n) for key, n in counts.items()])


def claim_batch(conn: sqlite3.Connection, first_id: str) -> bool:
    """Note a batch by its first game's id in ``stored_batches``; False if
    it was stored already. Forgets all but the latest :data:`KEEP_BATCHES`."""
    cursor = conn.execute(
        "INSERT INTO stored_batches (first_id) VALUES (?) ON CONFLICT DO NOTHING", (first_id,)
    )
    if not cursor.rowcount:
        return False
    if cursor.lastrowid is not None:
        conn.execute("DELETE FROM stored_batches WHERE n <= ?", (cursor.lastrowid - KEEP_BATCHES,))
    return True


def insert_rows(conn: sqlite3.Connection, rows: Sequence[Row]) -> None:
    """Insert game rows (columns :data:`~.rows.GAME_COLUMNS`) in statements
    of power-of-two row counts."""
    done, total = 0, len(rows)
    while done < total:
        n = min(_MAX_ROWS, 1 << ((total - done).bit_length() - 1))
        conn.execute(_insert_sql(n), list(itertools.chain.from_iterable(rows[done : done + n])))
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


# -- the store ----------------------------------------------------------------


class SqliteEngine(Engine):
    """One connection that inserts batches of games into an SQLite file."""

    def __init__(self, path: str, busy_timeout: float = BUSY_TIMEOUT) -> None:
        self.where = path
        self._conn = open_database(Path(path), busy_timeout=busy_timeout)

    def insert(self, rows: list[Row]) -> None:
        conn = self._conn
        # IMMEDIATE: wait for the write lock (up to the busy timeout) now,
        # rather than fail to upgrade a read lock halfway.
        conn.execute("BEGIN IMMEDIATE")
        try:
            # A batch sent again after an attempt whose end was not learned
            # has the same ids: stored already if its first one is known.
            if rows and claim_batch(conn, rows[0][0]):
                insert_rows(conn, rows)
                tally_rows(conn, rows)
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            raise

    def retryable(self, exc: Exception) -> bool:
        # Locked by another writer, disk full, an I/O error: worth a retry.
        return isinstance(exc, sqlite3.OperationalError)

    def release(self) -> None:
        self._conn.close()


class SqliteStore(BatchWriter):
    """Records games into an SQLite file, through a writer process (or,
    with ``writer="thread"``, from the writer thread itself).

    Opening creates the file and its directory if needed and migrates the
    schema; it raises :class:`StoreError` if the file cannot be used.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        commit_interval: float = COMMIT_INTERVAL,
        max_pending: int = MAX_PENDING,
        max_pending_bytes: int = MAX_PENDING_BYTES,
        busy_timeout: float = BUSY_TIMEOUT,
        close_timeout: float = CLOSE_TIMEOUT,
        writer: str = "process",
    ) -> None:
        super().__init__(
            commit_interval=commit_interval,
            max_pending=max_pending,
            max_pending_bytes=max_pending_bytes,
            close_timeout=close_timeout,
            writer=writer,
        )
        self.path = Path(path).expanduser()
        self.where = str(self.path)
        spec: EngineSpec = ("sqlite", {"path": self.where, "busy_timeout": busy_timeout})
        if writer == "thread":
            self._start(spec)
            return
        # Opened here first, so that what is wrong with the file is told
        # here, in the caller's words, before any process starts.
        open_database(self.path, busy_timeout=busy_timeout).close()
        self._start(spec)

    def __enter__(self) -> SqliteStore:
        return self
