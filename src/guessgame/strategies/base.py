"""The interface every guessing strategy implements."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Protocol

from ..protocol import Decision, ErrorCode, ProtocolError

__all__ = ["Strategy", "StrategyFactory", "no_candidates"]


class Strategy(Protocol):
    """The server's guesser for one game over ``[lower, upper]``.

    The game calls :meth:`next_guess` for every ``NUMBER`` and :meth:`observe`
    for every accepted ``REPORT``, at most ``--max-guesses`` times a game
    (then :meth:`check_candidates` instead of :meth:`next_guess`). It never
    calls either after a ``CORRECT`` report: from then on it repeats the
    secret itself.
    """

    def next_guess(self) -> int:
        """The next guess, never one returned before in this game.

        It is remembered as guessed. When no number is left that is
        consistent with the reports, raise :func:`no_candidates` and leave
        the state exactly as it was.
        """
        ...

    def check_candidates(self) -> None:
        """Raise :func:`no_candidates` where :meth:`next_guess` would, and
        change nothing. The game asks this instead of a guess when it may
        not make another (``--max-guesses``): ``no-candidates`` tells the
        client more than ``too-many-guesses`` does."""
        ...

    def observe(self, guess: int, decision: Decision) -> None:
        """The client's report on ``guess``, the latest guess, reported once.

        ``decision`` compares ``guess`` with the previously *reported* guess
        (the first reported guess of a game is always UNSURE or CORRECT).
        Guesses never reported carry no information. Contradictory reports
        must not raise here: they show up later as ``no-candidates``.
        """
        ...


#: Builds a strategy for one game: ``factory(lower, upper, rng)``.
StrategyFactory = Callable[[int, int, random.Random], Strategy]


def no_candidates(why: str) -> ProtocolError:
    """The error a strategy raises when it has no guess left."""
    return ProtocolError(ErrorCode.NO_CANDIDATES, why)
