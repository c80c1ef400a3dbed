"""The guesser that listens: warmer/colder feedback, IOI 2010 "Hotter Colder".

A report on guess ``G`` after the previously reported guess ``P`` tells on
which side of the midpoint ``(P + G) / 2`` the secret lies (WARMER: ``G``'s
side, COLDER: ``P``'s side, UNSURE: exactly on it). So every guess is a
threshold query whose threshold is tied to the previous guess: to split the
candidates ``[a, b]`` at their centre the next guess must be the reflection
``a + b - P``, and near the ends of the range that reflection falls outside
it. How the guesser copes with those walls decides its worst case.

This strategy:

* opens at the lower wall, then guesses the middle of the range (or, for
  the sizes in :data:`SECOND_GUESS_OFFSETS`, a neighbour of it), which puts
  the threshold at a quarter: the larger part lies against the far wall
  with the previous guess two thirds of the way along it, a shape in which
  plain reflection keeps fitting inside the range;
* then reflects, choosing among the reflection and its neighbours the
  legal guess (in range, never a repeat) whose worst part is smallest;
* when no legal guess can split the candidates (they lie against a wall and
  the previous guess is far), spends one guess inside them, two thirds of
  the way from the wall, to restore that shape;
* plays ranges of up to :data:`EXACT_MAX` numbers by exact minimax search,
  which is optimal.

Worst case (checked exhaustively for every N up to 4,400 and every secret,
and on samples up to 2**64): at most ``ceil(log2 N) + 2`` guesses; the IOI
bound ``floor(log2(3N)) + 1`` for all but 53 N up to 2,200 (see
docs/strategies.md). Each guess
costs O(1) time and memory (plus O(guesses so far) to step over earlier
guesses); integers are exact at any size.
"""

from __future__ import annotations

import random
from functools import lru_cache

from ..protocol import Decision
from . import _openings
from .base import no_candidates

__all__ = ["EXACT_MAX", "SmartStrategy"]

#: Ranges up to this size are played by exact minimax search (optimal: 1, 2,
#: 3, 3, 3, 4, 4, 4, 4, 4, 5 guesses for N = 1..11). The search over every
#: state of an 11-number game takes about 0.15 s once per process;
#: :func:`warm_up` does it ahead of time.
EXACT_MAX = 11

#: Range sizes whose second guess is a neighbour of the middle: with the
#: middle itself these N miss the goal floor(log2(3N)) + 1 by one guess.
#: Made by ``tools/smart_openings.py`` (exhaustive over every secret).
SECOND_GUESS_OFFSETS = _openings.SECOND_GUESS_OFFSETS


class SmartStrategy:
    """Uses the warmer/colder reports; see the module's documentation."""

    __slots__ = ("lower", "upper", "a", "b", "prev", "reported", "guessed", "_mask")

    name = "smart"

    def __init__(self, lower: int, upper: int, rng: random.Random | None = None) -> None:
        self.lower = lower
        self.upper = upper
        #: The candidates lie in [a, b] (minus guessed numbers).
        self.a = lower
        self.b = upper
        #: The previously reported guess, the reference of the next report.
        self.prev: int | None = None
        self.reported = 0
        self.guessed: set[int] = set()
        #: Small ranges: the exact candidate set as a bit mask of offsets.
        self._mask = (1 << (upper - lower + 1)) - 1 if upper - lower < EXACT_MAX else -1

    # -- the Strategy interface -------------------------------------------

    def next_guess(self) -> int:
        guess = self._exact_guess() if self._mask >= 0 else self._guess()
        self.guessed.add(guess)
        return guess

    def observe(self, guess: int, decision: Decision) -> None:
        prev = self.prev
        self.prev = guess
        self.reported += 1
        if decision is Decision.CORRECT or prev is None:
            # The first report has nothing to compare with: whatever it says,
            # it carries no information (an honest client says UNSURE).
            return
        if self._mask >= 0:
            self._mask &= _consistent_mask(
                self.upper - self.lower + 1, prev - self.lower, guess - self.lower, decision
            )
            return
        a, b = self.a, self.b
        twice_mid = prev + guess
        below = (twice_mid - 1) // 2  # the largest number strictly below the midpoint
        above = twice_mid // 2 + 1  # the smallest number strictly above it
        if decision is Decision.UNSURE:
            if twice_mid % 2:
                a, b = 1, 0  # no integer is exactly on a half-integer midpoint
            else:
                a, b = max(a, twice_mid // 2), min(b, twice_mid // 2)
        elif (decision is Decision.WARMER) == (guess > prev):
            a = max(a, above)
        else:
            b = min(b, below)
        self.a, self.b = a, b

    # -- large ranges -----------------------------------------------------

    def _guess(self) -> int:
        guessed = self.guessed
        a, b = self.a, self.b
        if a in guessed or b in guessed:
            while a <= b and a in guessed:
                a += 1
            while a <= b and b in guessed:
                b -= 1
            if a > b:
                raise no_candidates("no number is consistent with the reports")
            self.a, self.b = a, b
        if a >= b:
            if a == b:
                return a
            raise no_candidates("no number is consistent with the reports")
        prev = self.prev
        lower = self.lower
        if prev is None:
            # Nothing to compare with yet: open at the wall (or, after
            # unreported guesses, the lowest number still open).
            return lower if lower not in guessed else a
        if self.reported == 1 and prev == lower:
            size = self.upper - lower + 1
            second = lower + size // 2 + SECOND_GUESS_OFFSETS.get(size, 0)
            if second not in guessed:
                return second
        # The exact reflection puts the threshold at the centre of [a, b]:
        # with two candidates or more it always splits them, and no other
        # guess splits them more evenly.
        reflection = a + b - prev
        if lower <= reflection <= self.upper and reflection != prev and reflection not in guessed:
            return reflection
        guess = self._reflect(prev)
        return guess if guess is not None else self._reposition()

    def _reflect(self, prev: int) -> int | None:
        """The legal guess near the reflection of ``prev`` about the centre of
        the candidates whose larger part is smallest, or None if no legal
        guess splits them."""
        a, b, lower, upper, guessed = self.a, self.b, self.lower, self.upper, self.guessed
        size = b - a + 1
        centre2 = a + b
        reflection = centre2 - prev
        best: tuple[int, int] | None = None
        best_guess = None
        for shift in (0, 1, -1, 2, -2):
            base = min(max(reflection + shift, lower), upper)
            for nudge in (0, 1, -1, 2, -2):
                guess = base + nudge
                if not lower <= guess <= upper or guess in guessed or guess == prev:
                    continue
                largest = _largest_part(a, b, prev, guess)
                if largest >= size and not a <= guess <= b:
                    continue  # learns nothing
                score = (largest, abs(prev + guess - centre2))
                if best is None or score < best:
                    best, best_guess = score, guess
        if best is not None and best[0] < size:
            return best_guess
        return None

    def _reposition(self) -> int:
        """Candidates against a wall, the previous guess out of reach: spend a
        guess inside them, two thirds of the way from the nearer wall."""
        a, b, lower, upper, guessed = self.a, self.b, self.lower, self.upper, self.guessed
        if a - lower <= upper - b:
            target = lower + (2 * (b - lower) + 1) // 3
        else:
            target = upper - (2 * (upper - a) + 1) // 3
        target = min(max(target, a), b)
        # Only guessed numbers are taken: at most len(guessed) steps.
        for distance in range(b - a + 1):
            for guess in (target + distance, target - distance):
                if a <= guess <= b and guess not in guessed:
                    return guess
        raise no_candidates("no number is consistent with the reports")

    # -- small ranges: exact minimax ----------------------------------------

    def _exact_guess(self) -> int:
        size = self.upper - self.lower + 1
        guessed = 0
        for g in self.guessed:
            guessed |= 1 << (g - self.lower)
        candidates = self._mask & ~guessed
        if not candidates:
            raise no_candidates("no number is consistent with the reports")
        prev = None if self.prev is None else self.prev - self.lower
        _, offset = _minimax(size, candidates, prev, guessed)
        return self.lower + offset


def _largest_part(a: int, b: int, prev: int, guess: int) -> int:
    """How many of ``[a, b]`` lie on the larger side of the midpoint of
    ``prev`` and ``guess`` (the guess itself counted)."""
    twice_mid = prev + guess
    below = min(b, (twice_mid - 1) // 2) - a + 1
    above = b - max(a, twice_mid // 2 + 1) + 1
    return max(below, above, 0)


def _consistent_mask(size: int, prev: int, guess: int, decision: Decision) -> int:
    """Offsets ``s`` in ``range(size)`` consistent with ``decision`` on ``guess``
    after ``prev`` (all as offsets from the lower bound)."""
    mask = 0
    for s in range(size):
        d_guess, d_prev = abs(guess - s), abs(prev - s)
        if d_guess == 0:
            said = Decision.CORRECT
        elif d_guess == d_prev:
            said = Decision.UNSURE
        elif d_guess < d_prev:
            said = Decision.WARMER
        else:
            said = Decision.COLDER
        if said is decision:
            mask |= 1 << s
    return mask


@lru_cache(maxsize=1 << 16)
def _minimax(size: int, candidates: int, prev: int | None, guessed: int) -> tuple[int, int]:
    """(worst-case guesses, best guess) for the exact state of a small game.

    ``candidates`` and ``guessed`` are bit masks of offsets; ``prev`` is the
    previously reported guess (None before the first report, when a guess
    can only be right or not).
    """
    best, best_guess = size + 2, -1
    for guess in range(size):
        if guessed >> guess & 1:
            continue
        groups = [0, 0, 0]  # unsure, warmer, colder
        for s in range(size):
            if s == guess or not candidates >> s & 1:
                continue
            if prev is None:
                groups[0] |= 1 << s
                continue
            d_guess, d_prev = abs(guess - s), abs(prev - s)
            groups[0 if d_guess == d_prev else 1 if d_guess < d_prev else 2] |= 1 << s
        worst = 0
        after = guessed | 1 << guess
        for group in groups:
            if not group:
                continue
            if group == candidates:  # a guess that teaches nothing
                worst = best
                break
            worst = max(worst, _minimax(size, group, guess, after)[0])
            if worst + 1 >= best:
                break
        if worst + 1 < best:
            best, best_guess = worst + 1, guess
    return best, best_guess


def warm_up() -> None:
    """Search every small game ahead of time (about 0.3 s), so that no
    player's first game of a small range waits for it."""
    for size in range(1, EXACT_MAX + 1):
        _minimax(size, (1 << size) - 1, None, 0)
