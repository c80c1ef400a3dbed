"""The seed's guesser: uniform among the numbers not yet guessed."""

from __future__ import annotations

import random

from ..protocol import Decision
from .base import no_candidates

__all__ = ["RandomStrategy"]


class RandomStrategy:
    """Uniform random guesses without repeats, ignoring every report.

    A sparse Fisher-Yates shuffle of the offsets ``0 .. n-1``: the first
    ``drawn`` positions of a virtual permutation are the guesses made so
    far; ``_moved`` holds only the positions that differ from the identity.
    Each guess costs O(1) time and adds O(1) memory, whatever the size of
    the range (up to 2**64 numbers) and however few numbers are left.
    """

    __slots__ = ("lower", "size", "drawn", "_moved", "_rng")

    name = "random"

    def __init__(self, lower: int, upper: int, rng: random.Random) -> None:
        self.lower = lower
        self.size = upper - lower + 1
        self.drawn = 0
        self._moved: dict[int, int] = {}
        self._rng = rng

    def next_guess(self) -> int:
        self.check_candidates()
        k = self.drawn
        moved = self._moved
        j = k + self._rng.randrange(self.size - k)
        value = moved.get(j, j)
        if j != k:
            moved[j] = moved.pop(k, k)
        else:
            moved.pop(k, None)
        self.drawn = k + 1
        return self.lower + value

    def check_candidates(self) -> None:
        if self.drawn >= self.size:
            raise no_candidates(f"all {self.size} numbers were guessed")

    def observe(self, guess: int, decision: Decision) -> None:
        """The seed's server ignores the feedback; so does this strategy."""
