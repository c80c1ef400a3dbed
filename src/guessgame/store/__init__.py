"""Where finished games go: the store interface and its implementations."""

from __future__ import annotations

from typing import Protocol

from ..records import GameRecord

__all__ = ["NullStore", "Store"]


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
