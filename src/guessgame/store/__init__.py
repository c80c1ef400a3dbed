"""Where finished games go: the store interface and its implementations.

:func:`open_store` turns what ``serve --db`` was given into a store; a
store that cannot be used raises :class:`StoreError` while it opens, never
later in the middle of a game.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from ..records import GameRecord

__all__ = ["NullStore", "Store", "StoreError", "default_db_path", "open_store"]

#: File name of the default database inside the user's data directory.
DB_FILENAME = "games.sqlite3"


class Store(Protocol):
    """Keeps finished games. Used alike by every server backend."""

    def record(self, record: GameRecord) -> None:
        """Accept one finished game. Never blocks the caller on I/O."""
        ...

    def close(self) -> None:
        """Write everything accepted so far, then release the store."""
        ...


class NullStore:
    """Keeps nothing (``serve --no-db``)."""

    def record(self, record: GameRecord) -> None:
        pass

    def close(self) -> None:
        pass


class StoreError(Exception):
    """A database that cannot be used: missing, unwritable, locked, corrupt
    or of an unknown schema. The message is one line meant for the user."""


def default_db_path() -> Path:
    """The database ``serve`` and ``stats`` use without ``--db``:
    ``games.sqlite3`` in the per-user data directory."""
    import platformdirs

    return Path(platformdirs.user_data_dir("guessgame", appauthor=False)) / DB_FILENAME


def open_store(db: str | None) -> Store:
    """The store for ``--db``, opened and ready: a ``postgresql://`` URL
    (:class:`~.postgres.PostgresStore`), else an SQLite file (``None``: the
    default database). :class:`StoreError` if it cannot be used."""
    if db is not None and "://" in db:
        from .postgres import PostgresStore, is_postgres_url

        if is_postgres_url(db):
            return PostgresStore(db)
        scheme = db.split("://", 1)[0]
        raise StoreError(
            f"unsupported database URL scheme {scheme!r}; give a file path "
            "or a postgresql://user@host:port/dbname URL"
        )
    # Imported here so that the servers and NullStore users never load sqlite3.
    from .sqlite import SqliteStore

    return SqliteStore(Path(db) if db is not None else default_db_path())
