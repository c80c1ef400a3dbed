"""What the server remembers of a finished game."""

from __future__ import annotations

import enum
from array import array
from collections.abc import Iterator, Sequence
from typing import NamedTuple, overload

from .protocol import Decision

__all__ = ["DECISION_CODES", "GameRecord", "Guesses", "Move", "Outcome", "format_peer"]

#: One guess of a game and the client's decision on it (None: never reported).
Move = tuple[int, Decision | None]

#: The one-byte code of each decision in :class:`Guesses`; 0 is "not reported".
DECISION_CODES: dict[Decision, int] = {
    Decision.WARMER: 1,
    Decision.COLDER: 2,
    Decision.UNSURE: 3,
    Decision.CORRECT: 4,
}
_DECISION_OF_CODE: tuple[Decision | None, ...] = (None, *DECISION_CODES)


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


class Guesses(Sequence[Move]):
    """The guesses of one game in order, each with the client's decision.

    Nine bytes a guess: the guesses in a signed 64-bit array (every guess
    lies in the game's 64-bit range), the decisions one byte each (codes of
    :data:`DECISION_CODES`, 0 for a guess never reported). A list of
    ``(guess, decision)`` tuples costs about 100 bytes a guess; a server
    holds up to ``--max-guesses`` of them for every connection. Compares
    equal to any sequence of the same ``(guess, decision)`` pairs.
    """

    __slots__ = ("values", "codes")

    def __init__(self, values: array[int] | None = None, codes: bytes = b"") -> None:
        self.values: array[int] = values if values is not None else array("q")
        self.codes = codes
        if len(self.codes) != len(self.values):
            raise ValueError("one decision code per guess")

    @classmethod
    def of(cls, moves: Sequence[Move]) -> Guesses:
        """The same moves, packed."""
        if isinstance(moves, Guesses):
            return moves
        codes = DECISION_CODES
        return cls(
            array("q", [guess for guess, _ in moves]),
            bytes([0 if d is None else codes[d] for _, d in moves]),
        )

    def __len__(self) -> int:
        return len(self.values)

    @overload
    def __getitem__(self, index: int) -> Move: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Move]: ...
    def __getitem__(self, index: int | slice) -> Move | Sequence[Move]:
        if isinstance(index, slice):
            return tuple(self)[index]
        return self.values[index], _DECISION_OF_CODE[self.codes[index]]

    def __iter__(self) -> Iterator[Move]:
        return zip(self.values, map(_DECISION_OF_CODE.__getitem__, self.codes), strict=True)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Guesses):
            return self.values == other.values and self.codes == other.codes
        if isinstance(other, Sequence):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Guesses({tuple(self)!r})"

    def __reduce__(self) -> tuple[type[Guesses], tuple[array[int], bytes]]:
        return Guesses, (self.values, self.codes)


class GameRecord(NamedTuple):
    """One finished game, as the store keeps it.

    ``guesses`` holds every guess in order with the client's decision, or
    None for a guess that was never reported: a :class:`Guesses` from the
    server, any sequence of ``(guess, decision)`` pairs from elsewhere.
    After CORRECT the server only repeats the secret; those repeats are not
    guesses and are not listed.
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
    guesses: Sequence[Move]

    @property
    def guess_count(self) -> int:
        return len(self.guesses)


def format_peer(address: object) -> str:
    """``host:port`` (``[v6]:port``) of a socket address, or ``?``."""
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address) if address else "?"
