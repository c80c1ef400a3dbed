"""What the server remembers of a finished game."""

from __future__ import annotations

import enum
from typing import NamedTuple

from .protocol import Decision

__all__ = ["GameRecord", "Outcome", "format_peer"]


class Outcome(enum.Enum):
    """How a game ended."""

    #: The client reported CORRECT.
    WON = "won"
    #: Ended without a win: a new PARAMS, CLEAR, the client hanging up, or
    #: the server closing it at shutdown.
    ABANDONED = "abandoned"
    #: The connection failed under it: a framing error, an idle timeout, a
    #: reset or another I/O error.
    ERROR = "error"


class GameRecord(NamedTuple):
    """One finished game, as the store keeps it.

    ``guesses`` holds every guess in order with the client's decision, or
    None for a guess that was never reported. After CORRECT the server only
    repeats the secret; those repeats are not guesses and are not listed.
    A named tuple, not a frozen dataclass: one is built for every game, and a
    tuple is built several times faster.
    """

    lower: int
    upper: int
    strategy: str
    backend: str
    peer: str
    started_at: float
    ended_at: float
    outcome: Outcome
    guesses: tuple[tuple[int, Decision | None], ...]

    @property
    def guess_count(self) -> int:
        return len(self.guesses)


def format_peer(address: object) -> str:
    """``host:port`` (``[v6]:port``) of a socket address, or ``?``."""
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address) if address else "?"
