"""What ``guessgame stats`` reports: a summary of the stored games.

Everything is computed by SQL aggregates over ``game_tally``, which the
store's writer keeps in the transaction that inserts the games: a row per
strategy, backend, size bucket, outcome and guess count, with how many
games it counts. A summary reads those hundreds of rows, however many
games are stored. The queries are the same for SQLite and PostgreSQL; what
differs between the engines (connecting, the schema version, the type of a
sum) is in the ``summarize_*`` functions and :func:`_group`.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from . import StoreError
from .rows import Connection
from .sqlite import SCHEMA_VERSION, check_version, connect_readonly, open_database

__all__ = [
    "size_label",
    "summarize",
    "summarize_db",
    "summarize_empty",
    "summarize_file",
    "summarize_url",
]

#: Below this power of ten, a size bucket is labelled with its exact bounds.
_EXACT_LABELS = 6
#: The largest range size: every signed 64-bit integer.
_MAX_SIZE = 2**64

# One aggregate row per group of the tally: games, wins, abandoned, errors,
# the guesses of won games summed, and the most of them.
_AGGREGATES = (
    "sum(games),"
    " sum(CASE WHEN outcome = 'won' THEN games END),"
    " sum(CASE WHEN outcome = 'abandoned' THEN games END),"
    " sum(CASE WHEN outcome = 'error' THEN games END),"
    " sum(CASE WHEN outcome = 'won' THEN games * guess_count END),"
    " max(CASE WHEN outcome = 'won' THEN guess_count END)"
)


def size_label(decade: int) -> str:
    """A size bucket's name: ``1-9``, ``10-99``, ... then ``1e6-1e7`` for
    ``10**6 <= N < 10**7``."""
    if decade < _EXACT_LABELS:
        return f"{10**decade}-{10 ** (decade + 1) - 1}"
    return f"1e{decade}-1e{decade + 1}"


def _group(row: tuple[Any, ...]) -> dict[str, Any]:
    # PostgreSQL's sums of bigints are Decimals; a sum over no rows is NULL.
    games, wins, abandoned, errors, guesses = (int(n or 0) for n in row[:5])
    return {
        "games": games,
        "wins": wins,
        "abandoned": abandoned,
        "errors": errors,
        "guesses_per_win": {
            "mean": round(guesses / wins, 3) if wins else None,
            "max": row[5],
        },
    }


def _grouped(conn: Connection, column: str) -> Any:
    """The tally's aggregate rows by ``column`` (one of its key columns)."""
    return conn.execute(
        f"SELECT {column}, {_AGGREGATES} FROM game_tally GROUP BY {column} ORDER BY {column}"
    )


def summarize(conn: Connection) -> dict[str, Any]:
    """The summary of a migrated game database (an sqlite3 or a psycopg
    connection), as ``stats --json`` prints it.

    ``by_strategy`` is keyed by strategy name, ``by_backend`` by how the
    games were served (``asyncio``, ``threads``, ``web``); ``by_range`` by the
    power-of-ten bucket of the range size N = upper - lower + 1, each with
    its exact ``min_size`` and ``max_size``. A mean or max over no won games
    is ``None``.
    """
    by_strategy = {row[0]: _group(row[1:]) for row in _grouped(conn, "strategy")}
    by_range: dict[str, dict[str, Any]] = {}
    for row in _grouped(conn, "size_decade"):
        decade = int(row[0])
        by_range[size_label(decade)] = {
            "min_size": 10**decade,
            "max_size": min(10 ** (decade + 1) - 1, _MAX_SIZE),
            **_group(row[1:]),
        }
    # How the games were served: asyncio, threads, or web (over the WebSocket).
    by_backend = {row[0]: _group(row[1:]) for row in _grouped(conn, "backend")}
    (total,) = conn.execute(f"SELECT {_AGGREGATES} FROM game_tally").fetchall()
    return {
        **_group(total),
        "by_strategy": by_strategy,
        "by_range": by_range,
        "by_backend": by_backend,
    }


def summarize_file(path: Path) -> dict[str, Any]:
    """:func:`summarize` of the database at ``path``, opened read-only.

    :class:`StoreError` if there is no database there or it cannot be read.
    A database of an older schema is migrated first (which needs write
    access); an empty SQLite file counts as zero games.
    """
    conn = connect_readonly(path)
    try:
        version = check_version(conn, path)
        if version == 0:
            return summarize_empty()
        if version < SCHEMA_VERSION:
            conn.close()
            open_database(path).close()
            conn = connect_readonly(path)
        return summarize(conn)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read database {path}: {exc}") from None
    finally:
        conn.close()


def summarize_url(url: str) -> dict[str, Any]:
    """:func:`summarize` of the PostgreSQL database at ``url``.

    :class:`StoreError` if it cannot be reached or read. A database
    without the schema counts as zero games; an older schema is migrated.
    """
    from .postgres import SCHEMA_VERSION as PG_VERSION
    from .postgres import _reason, connect, migrate, redact, schema_version

    where = redact(url)
    conn = connect(url)
    try:
        version = schema_version(conn, where)
        if version == 0:
            return summarize_empty()
        if version < PG_VERSION:
            migrate(conn, where)
        return summarize(conn)
    except StoreError:
        raise
    except Exception as exc:
        raise StoreError(f"cannot read database {where}: {_reason(exc)}") from None
    finally:
        conn.close()


def summarize_db(db: str | Path) -> dict[str, Any]:
    """:func:`summarize_url` of a ``postgresql://`` URL, else
    :func:`summarize_file` of a path."""
    from .postgres import is_postgres_url

    if isinstance(db, str) and is_postgres_url(db):
        return summarize_url(db)
    return summarize_file(Path(db).expanduser())


def summarize_empty() -> dict[str, Any]:
    """The summary of a database without games."""
    return {
        "games": 0,
        "wins": 0,
        "abandoned": 0,
        "errors": 0,
        "guesses_per_win": {"mean": None, "max": None},
        "by_strategy": {},
        "by_range": {},
        "by_backend": {},
    }
