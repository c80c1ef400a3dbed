"""The shared store: games of many servers, on many hosts, in one
PostgreSQL database (``--db postgresql://user@host:port/dbname``).

:class:`PostgresStore` is a :class:`~.writer.BatchWriter`, like the SQLite
store: servers append to its bounded queue, one writer thread hands
batches to a writer process (:mod:`.process`), which commits each in one
transaction (a COPY, then one INSERT) over one connection. The tables and their columns are
those of the SQLite store (:mod:`.rows`), at the same schema version,
reached by the same migrations in order; the version lives in the table
``guessgame_schema``.

Each game's id (a UUIDv7 made by the writer) is the primary key, and a
batch goes in through ``INSERT ... ON CONFLICT (id) DO NOTHING``: a batch
retried after a connection broke during its commit cannot be stored twice.
When the database goes away while serving, games go on: the batch in hand
is retried with backoff over a new connection, records wait in the queue
up to its bound, and what does not fit is dropped, counted and logged.

psycopg (3) is imported only when a ``postgresql://`` URL is given; it
comes with the ``guessgame[postgres]`` extra.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Callable
from types import ModuleType
from typing import Any

from . import StoreError
from .rows import GAME_COLUMNS
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
    "PostgresEngine",
    "PostgresStore",
    "connect",
    "is_postgres_url",
    "migrate",
    "redact",
    "schema_version",
]

log = logging.getLogger("guessgame.store")

#: URL schemes libpq accepts.
SCHEMES = ("postgresql", "postgres")
#: Seconds to wait for a connection to the server.
CONNECT_TIMEOUT = 5
#: Milliseconds unacknowledged data may wait before the kernel gives up on a
#: connection: a database host that vanished fails the writer's statement
#: instead of hanging it (the batch is then retried on a new connection).
TCP_USER_TIMEOUT_MS = 15_000
#: Any fixed key for the advisory lock that serialises migrations between
#: servers starting together.
_MIGRATION_LOCK = 0x67756573  # "gues"

INSTALL_HINT = (
    "PostgreSQL support is not installed; install it with: pip install 'guessgame[postgres]'"
)


def is_postgres_url(db: str) -> bool:
    """Whether ``--db`` names a PostgreSQL database rather than a file."""
    return db.split("://", 1)[0].lower() in SCHEMES and "://" in db


def redact(url: str) -> str:
    """The URL without its password, fit for messages and logs."""
    try:
        parts = urllib.parse.urlsplit(url)
        if parts.password is None:
            return url
        host = parts.netloc.rsplit("@", 1)[1]
        user = parts.username or ""
        return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}@{host}"))
    except ValueError:
        return url.split("://", 1)[0] + "://…"


def _psycopg() -> ModuleType:
    try:
        import psycopg
    except ImportError:
        raise StoreError(INSTALL_HINT) from None
    return psycopg


def _reason(exc: BaseException) -> str:
    """The gist of a libpq error, on one line."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    # 'connection failed: connection to server at "h" (addr), port p failed: X'
    for prefix in ("connection failed: ",):
        text = text.removeprefix(prefix)
    if text.startswith("connection to server") and " failed: " in text:
        text = text.split(" failed: ", 1)[1]
    return text.removeprefix("FATAL:").strip() or type(exc).__name__


def _open(psycopg: ModuleType, url: str, connect_timeout: float) -> Any:
    return psycopg.connect(
        url,
        autocommit=True,
        connect_timeout=max(1, round(connect_timeout)),
        application_name="guessgame",
        keepalives=1,
        keepalives_idle=10,
        keepalives_interval=5,
        keepalives_count=3,
        tcp_user_timeout=TCP_USER_TIMEOUT_MS,
    )


def connect(url: str, *, connect_timeout: float = CONNECT_TIMEOUT) -> Any:
    """An autocommit psycopg connection to ``url``; :class:`StoreError`
    (one line, without the password) if there is none to be had."""
    psycopg = _psycopg()
    try:
        return _open(psycopg, url, connect_timeout)
    except psycopg.Error as exc:
        raise StoreError(f"cannot connect to {redact(url)}: {_reason(exc)}") from None


# -- the schema ---------------------------------------------------------------

_V1 = (
    # One row per game; its UUIDv7 is its identity in every database.
    """
    CREATE TABLE games (
        id          uuid PRIMARY KEY,
        lower       bigint NOT NULL,
        upper       bigint NOT NULL,
        strategy    text NOT NULL,
        backend     text NOT NULL,
        peer        text NOT NULL,
        started_at  double precision NOT NULL,
        ended_at    double precision NOT NULL,
        outcome     text NOT NULL CHECK (outcome IN ('won', 'abandoned', 'error')),
        guess_count integer NOT NULL
    )
    """,
    """
    CREATE TABLE guesses (
        game_id  uuid NOT NULL REFERENCES games (id),
        seq      integer NOT NULL,
        guess    bigint NOT NULL,
        decision text CHECK (decision IN ('warmer', 'colder', 'unsure', 'correct')),
        PRIMARY KEY (game_id, seq)
    )
    """,
)

_V2 = (
    "ALTER TABLE games ADD COLUMN size_decade integer NOT NULL DEFAULT 0",
    # size_decade() of rows.py in SQL: digits of N = upper - lower + 1, less one.
    "UPDATE games SET size_decade ="
    " length(greatest(upper::numeric - lower::numeric + 1, 1)::text) - 1",
    "CREATE INDEX games_by_strategy ON games (strategy, outcome, guess_count)",
    "CREATE INDEX games_by_size ON games (size_decade, outcome, guess_count)",
)

_V3 = (
    "ALTER TABLE games ADD COLUMN guesses text NOT NULL DEFAULT ''",
    """
    UPDATE games SET guesses = moves.text
    FROM (
        SELECT game_id, string_agg(
            guess::text || CASE decision WHEN 'warmer' THEN '+' WHEN 'colder' THEN '-'
                                         WHEN 'unsure' THEN '?' WHEN 'correct' THEN '='
                                         ELSE '' END,
            ' ' ORDER BY seq) AS text
        FROM guesses GROUP BY game_id
    ) AS moves
    WHERE games.id = moves.game_id
    """,
    "DROP TABLE guesses",
)


def _script(statements: tuple[str, ...]) -> Callable[[Any], None]:
    def apply(conn: Any) -> None:
        for statement in statements:
            conn.execute(statement)

    return apply


#: Migration ``i`` turns a version-``i`` database into version ``i + 1``
#: (version 0: empty). The same steps as SQLite's, in PostgreSQL's words.
#: Append only; never edit one that has shipped.
# Version 4 changed nothing here: SQLite's CHECK on the outcome became
# three comparisons (it built a b-tree of an IN list for every row);
# PostgreSQL checks the IN list in place. The versions stay one sequence.
_V4: tuple[str, ...] = ()

_TALLY_KEY = "strategy, backend, size_decade, outcome, guess_count"
# Version 5: the games' tally that ``stats`` reads, instead of the two
# covering indexes of version 2 (every game row paid for both). A trigger
# keeps it, once per INSERT statement, from the rows that statement stored
# (a batch sent again stores none): every writer's games are counted, an
# older guessgame's still running beside a newer one included. Its rows are
# added in key order, so two servers' batches never wait on each other's
# tally rows crosswise. SQLite's version 5 also drops the UNIQUE index on
# the id; here the id is the primary key, which ON CONFLICT needs.
_V5 = (
    f"""
    CREATE TABLE game_tally (
        strategy    text NOT NULL,
        backend     text NOT NULL,
        size_decade integer NOT NULL,
        outcome     text NOT NULL,
        guess_count integer NOT NULL,
        games       bigint NOT NULL,
        PRIMARY KEY ({_TALLY_KEY})
    )
    """,
    f"INSERT INTO game_tally ({_TALLY_KEY}, games)"
    f" SELECT {_TALLY_KEY}, count(*) FROM games GROUP BY {_TALLY_KEY}",
    f"""
    CREATE FUNCTION guessgame_tally() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO game_tally ({_TALLY_KEY}, games)
        SELECT {_TALLY_KEY}, count(*) FROM stored GROUP BY {_TALLY_KEY} ORDER BY {_TALLY_KEY}
        ON CONFLICT ({_TALLY_KEY}) DO UPDATE SET games = game_tally.games + excluded.games;
        RETURN NULL;
    END
    $$
    """,
    "CREATE TRIGGER games_tally AFTER INSERT ON games REFERENCING NEW TABLE AS stored"
    " FOR EACH STATEMENT EXECUTE FUNCTION guessgame_tally()",
    "DROP INDEX IF EXISTS games_by_strategy",
    "DROP INDEX IF EXISTS games_by_size",
)

MIGRATIONS: tuple[Callable[[Any], None], ...] = (
    _script(_V1),
    _script(_V2),
    _script(_V3),
    _script(_V4),
    _script(_V5),
)
#: The version this code writes and reads (the SQLite store's too).
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(conn: Any, where: str) -> int:
    """The database's schema version: 0 if empty, :class:`StoreError` if
    it holds another application's ``games`` or a newer guessgame's."""
    (has_version, has_games) = conn.execute(
        "SELECT to_regclass('guessgame_schema') IS NOT NULL, to_regclass('games') IS NOT NULL"
    ).fetchone()
    if not has_version:
        if has_games:
            raise StoreError(f"{where} has a table 'games' of something else, not of guessgame")
        return 0
    row = conn.execute("SELECT version FROM guessgame_schema").fetchone()
    version = int(row[0]) if row else 0
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"database {where} has schema version {version}, newer than this "
            f"guessgame knows ({SCHEMA_VERSION}); upgrade guessgame"
        )
    return version


def migrate(conn: Any, where: str, target: int = SCHEMA_VERSION) -> int:
    """Bring the database up to ``target`` in one transaction, under an
    advisory lock so that servers starting together migrate it once. The
    version it had before."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        version = schema_version(conn, where)
        for migration in MIGRATIONS[version:target]:
            migration(conn)
        if version == 0:
            conn.execute("CREATE TABLE guessgame_schema (version integer NOT NULL)")
            conn.execute("INSERT INTO guessgame_schema VALUES (%s)", (target,))
        elif version < target:
            conn.execute("UPDATE guessgame_schema SET version = %s", (target,))
    if 0 < version < target:
        log.info("migrated %s from schema version %d to %d", where, version, target)
    return version


# A batch goes in by COPY into a temporary table of the session, then one
# INSERT from it: COPY takes the rows as text, where binding a column array
# per parameter made psycopg adapt every value (11 -> 1 us a game, on the
# writer's side). The INSERT skips ids already stored, so a batch sent again
# after a connection broke during its commit is not stored twice (and the
# tally's trigger counts only what it stored); the table empties itself at
# every commit.
_BATCH_TABLE = "guessgame_batch"
_CREATE_BATCH = f"CREATE TEMPORARY TABLE {_BATCH_TABLE} (LIKE games) ON COMMIT DELETE ROWS"
_COPY = f"COPY {_BATCH_TABLE} ({GAME_COLUMNS}) FROM STDIN"
_MOVE = (
    f"INSERT INTO games ({GAME_COLUMNS}) SELECT {GAME_COLUMNS} FROM {_BATCH_TABLE}"
    " ON CONFLICT (id) DO NOTHING"
)


class PostgresEngine(Engine):
    """One connection that inserts batches of games into PostgreSQL; a
    connection lost (or to a read-only server) is replaced at the next
    attempt. ``conn``: a connection already open (else one is opened)."""

    def __init__(
        self, url: str, connect_timeout: float = CONNECT_TIMEOUT, conn: Any = None
    ) -> None:
        self.url = url
        self.where = redact(url)
        self._connect_timeout = connect_timeout
        self._psycopg = _psycopg()
        self._conn: Any = (
            conn if conn is not None else connect(url, connect_timeout=connect_timeout)
        )
        #: Connections opened again after losing one.
        self.reconnects = 0
        #: Whether this connection has its table of the batch.
        self._batch_table = False

    def insert(self, rows: list[Row]) -> None:
        if self._conn is None:
            self._conn = _open(self._psycopg, self.url, self._connect_timeout)
            self._batch_table = False
            self.reconnects += 1
            log.info("reconnected to %s", self.where)
        conn = self._conn
        if not self._batch_table:
            conn.execute(_CREATE_BATCH)
            self._batch_table = True
        with conn.transaction():
            with conn.cursor().copy(_COPY) as copy:
                for row in rows:
                    copy.write_row(row)
            conn.execute(_MOVE)

    def retryable(self, exc: Exception) -> bool:
        psycopg = self._psycopg
        # A read-only server is a standby a failover has not promoted yet,
        # or the old primary: ask again, over a new connection.
        read_only = isinstance(exc, psycopg.errors.ReadOnlySqlTransaction)
        if self._conn is not None and (self._conn.broken or self._conn.closed or read_only):
            # The next attempt starts with a new connection.
            self._conn.close()
            self._conn = None
        return read_only or isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)

    def release(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def counters(self) -> dict[str, int]:
        return {"reconnects": self.reconnects}


class PostgresStore(BatchWriter):
    """Records games into a PostgreSQL database, through a writer process
    (or, with ``writer="thread"``, from the writer thread itself).

    Opening connects, creates or migrates the schema, and raises
    :class:`StoreError` if the database cannot be used (unreachable,
    refused, another application's, psycopg missing). Later connection
    losses never raise: the writer reconnects and retries.
    """

    def __init__(
        self,
        url: str,
        *,
        commit_interval: float = COMMIT_INTERVAL,
        max_pending: int = MAX_PENDING,
        max_pending_bytes: int = MAX_PENDING_BYTES,
        close_timeout: float = CLOSE_TIMEOUT,
        connect_timeout: float = CONNECT_TIMEOUT,
        writer: str = "process",
    ) -> None:
        super().__init__(
            commit_interval=commit_interval,
            max_pending=max_pending,
            max_pending_bytes=max_pending_bytes,
            close_timeout=close_timeout,
            writer=writer,
        )
        self.url = url
        self.where = redact(url)
        psycopg = _psycopg()
        conn = connect(url, connect_timeout=connect_timeout)
        try:
            migrate(conn, self.where)
        except psycopg.Error as exc:
            conn.close()
            raise StoreError(f"cannot use database {self.where}: {_reason(exc)}") from None
        except BaseException:
            conn.close()
            raise
        spec: EngineSpec = ("postgres", {"url": url, "connect_timeout": connect_timeout})
        if writer == "process":
            conn.close()  # the writer process connects on its own
            self._start(spec)
        else:
            self._start(spec, lambda: PostgresEngine(url, connect_timeout, conn))

    def __enter__(self) -> PostgresStore:
        return self

    @property
    def reconnects(self) -> int:
        """Connections the writer opened again after losing one."""
        sink = self._sink
        return 0 if sink is None else int(sink.counters().get("reconnects", 0))
