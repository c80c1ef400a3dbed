"""Every game a deterministic strategy can play on a range, at once.

An honest client's reports depend only on the secret, so the games of all
secrets of a range form one decision tree: each node a guess, each branch
a report. :func:`play_every_secret` walks that tree, splitting the secrets
by the report each would give, so it plays all N games in about the time of
N guesses rather than N games. It checks, on every branch, what a strategy
promises (each guess within the range and never repeated).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..protocol import Decision
from .base import Strategy

__all__ = ["Forkable", "GuessCounts", "play_every_secret"]


class Forkable(Strategy, Protocol):
    def fork(self) -> Forkable:
        """An independent copy of the strategy in its current state."""
        ...


@dataclass(frozen=True)
class GuessCounts:
    """Guesses per game over every secret of a range."""

    #: The most guesses any secret needs, and the smallest such secret.
    worst: int
    worst_secret: int
    #: Guesses summed over all secrets, and how many secrets.
    total: int
    secrets: int

    @property
    def mean(self) -> float:
        return self.total / self.secrets


def play_every_secret(
    strategy: Forkable,
    lower: int,
    upper: int,
    *,
    secrets: Sequence[int] | None = None,
    prev: int | None = None,
    made: Iterable[int] = (),
) -> GuessCounts:
    """Play every secret in ``[lower, upper]`` against ``strategy`` (fresh,
    for that range), with an honest client reporting every guess.

    Or continue a game under way: ``strategy`` after the guesses ``made``
    (all reported, the last one ``prev``), for the ``secrets`` still
    consistent with those reports; guesses are counted from the game's start.
    """
    pending = sorted(secrets) if secrets is not None else list(range(lower, upper + 1))
    worst, worst_secret, total = 0, lower, 0
    # (strategy, its secrets (sorted), previously reported guess, guesses so far)
    stack: list[tuple[Forkable, list[int], int | None, frozenset[int]]] = [
        (strategy, pending, prev, frozenset(made))
    ]
    while stack:
        player, secrets, prev, made = stack.pop()
        guess = player.next_guess()
        if not lower <= guess <= upper or guess in made:
            raise AssertionError(f"guess {guess} out of range or repeated after {sorted(made)}")
        made = made | {guess}
        depth = len(made)
        groups: list[tuple[Decision, list[int]]] = []
        hit = bisect_left(secrets, guess)
        if hit < len(secrets) and secrets[hit] == guess:
            total += depth
            if depth > worst or (depth == worst and guess < worst_secret):
                worst, worst_secret = depth, guess
            secrets = secrets[:hit] + secrets[hit + 1 :]
        if not secrets:
            continue
        if prev is None:
            groups.append((Decision.UNSURE, secrets))
        else:
            # Secrets below the midpoint of prev and guess are nearer the
            # lower of the two; exactly on it, equally near both.
            twice_mid = prev + guess
            below = bisect_left(secrets, (twice_mid + 1) // 2)
            above = bisect_right(secrets, twice_mid // 2)
            lower_side = Decision.WARMER if guess < prev else Decision.COLDER
            upper_side = Decision.COLDER if guess < prev else Decision.WARMER
            for decision, part in (
                (lower_side, secrets[:below]),
                (Decision.UNSURE, secrets[below:above]),
                (upper_side, secrets[above:]),
            ):
                if part:
                    groups.append((decision, part))
        for i, (decision, part) in enumerate(groups):
            child = player if i == len(groups) - 1 else player.fork()
            child.observe(guess, decision)
            stack.append((child, part, guess, made))
    return GuessCounts(worst, worst_secret, total, len(pending))
