"""The guesser that listens: warmer/colder feedback, IOI 2010 "Hotter Colder".

A report on guess ``G`` after the previously reported guess ``P`` tells on
which side of the midpoint ``(P + G) / 2`` the secret lies (WARMER: ``G``'s
side, COLDER: ``P``'s side, UNSURE: exactly on it). So every guess is a
threshold query whose threshold is tied to the previous guess: to split the
candidates ``[a, b]`` at their centre the next guess must be the reflection
``a + b - P``, and near the ends of the range that reflection falls outside
it. How the guesser copes with those walls decides its worst case.

Halving by reflection, started from a previous guess at ``P``, never guesses
below ``a - |P - (a + 2L/3)|`` nor above ``b + |P - (a + L/3)|`` (``L = b - a``;
exact in the limit of large ranges, integer rounding moves it by a number
or so): candidates lying against the lower wall are halved to the end
without touching it when ``P`` is two thirds of the way from that wall, and
those against the upper wall when ``P`` is one third of the way. A state
that satisfies this is *free*. The strategy:

* opens at one ninth of the range and then guesses five ninths: the
  threshold falls at one third, the upper two thirds lie against the upper
  wall with the previous guess one third of the way along them (free), and
  the lower third costs one guess to reposition before it is free too.
  Two thirds of N must fit in the guesses left after two, and one third in
  one fewer: N <= 3/8 * 2**k for k guesses, an eighth more than the IOI
  bound's 2**k / 3;
* then reflects whenever the reflection is a legal guess (in range, never a
  repeat);
* otherwise chooses, among the clamped reflection, its neighbours and the
  guesses that make the candidates free, the one whose worse part is
  cheapest, a part costing ``log2(count + 1)`` guesses when free and one
  guess more when it must be repositioned first;
* with at most :data:`ENDGAME` candidates left, searches the rest of the
  game exhaustively (:func:`_endgame_guess`). That eighth of room is at least
  one candidate per branch only from 2**5 candidates up; below, a branch of
  2**j - 1 candidates has exactly j guesses, and an exact reflection that
  was guessed before, or a wall one number too near, would cost one. The
  search sees those and plans around them, and plays small ranges
  optimally (it tries every number when the range has at most 64).

Worst case, checked exhaustively for every N up to 5,000 and every secret,
for the hardest N of every size class up to 2**14, and against an
adversary up to 2**64 (docs/strategies.md): the exact optimum for every
N up to :data:`TABLE_MAX`; beyond, within the IOI bound
``floor(log2(3N)) + 1``, itself within the contract ``ceil(log2 N) + 2``.
Each guess costs O(1) time and memory, plus O(guesses so far) to step over
earlier guesses (a list lookup on the plan of a small range); the endgame search is
bounded by :data:`ENDGAME`. Games are remembered per range size in a
bounded memo shared by all games, so a range played before costs a few
dictionary lookups per guess. Integers are exact at any size.
"""

from __future__ import annotations

import base64
import copy
import math
import random
import sys
from array import array
from collections.abc import Iterator
from typing import Any

from ..protocol import Decision, ProtocolError
from ._optimal import PLANS, TABLE_MAX
from .base import no_candidates

__all__ = ["ENDGAME", "TABLE_MAX", "SmartStrategy", "forget"]

#: From this many candidates down, the game is searched exhaustively.
ENDGAME = 16

#: Ranges up to this many numbers are small enough that the endgame search
#: tries every number in them, not only the guesses that place a threshold.
_SMALL_RANGE = 64


#: Keys of a memo node besides the reports: the guess made there (its offset
#: from the lower bound, with the endgame plan's depth after it and the
#: plan's frame), and the next guess asked for before a report.
_GUESS = "guess"
_AGAIN = "again"

_Node = dict[object, Any]


class _Memo:
    """The games played so far, as one decision tree per range size.

    The strategy is deterministic and plays every range of a size the same
    way, shifted, so its guess is a function of the size and of what the
    client said so far: a node maps each report (or :data:`_AGAIN`) to the
    next node and :data:`_GUESS` to the guess made there. A server playing
    the same ranges over and over finds most guesses here. Bounded: past
    :attr:`budget` nodes it starts afresh (games under way keep their own
    branches). Only dict operations, atomic under the GIL: safe to share
    between threads.
    """

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.nodes = 0
        self.trees: dict[int, _Node] = {}

    def root(self, size: int) -> _Node:
        tree = self.trees.get(size)
        if tree is None:
            tree = self.trees[size] = self._new()
        return tree

    def child(self, node: _Node, event: object) -> _Node:
        found = node.get(event)
        if found is None:
            found = node[event] = self._new()
        return found

    def _new(self) -> _Node:
        self.nodes += 1
        if self.nodes > self.budget:
            self.trees.clear()
            self.nodes = 1
        return {}


_GAMES = _Memo(budget=1 << 13)


def forget() -> None:
    """Empty the memo of games played, of endgames searched and of plans
    decoded, as in a fresh process."""
    _GAMES.trees.clear()
    _GAMES.nodes = 0
    _SEARCHED.clear()
    _DECODED.clear()


class SmartStrategy:
    """Uses the warmer/colder reports; see the module's documentation."""

    __slots__ = (
        "lower",
        "upper",
        "a",
        "b",
        "prev",
        "reported",
        "guessed",
        "_planned",
        "_frame",
        "_node",
        "_asked",
        "_plan",
        "_at",
    )

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
        #: In the endgame: the guesses the searched plan needs from here on.
        self._planned: int | None = None
        self._frame: _Frame | None = None
        #: Small ranges: the optimal plan of their size and where the game
        #: is in it; None once off the plan (or for larger ranges).
        self._plan = _plan(upper - lower + 1)
        self._at = 0
        #: Where this game is in the memo of games on ranges of its size
        #: (off the plan: a tree of its own, from where it left the plan).
        self._node: _Node = {} if self._plan is not None else _GAMES.root(upper - lower + 1)
        #: A guess is out and not reported yet.
        self._asked = False

    # -- the Strategy interface -------------------------------------------

    def next_guess(self) -> int:
        plan = self._plan
        if plan is not None:
            if not self._asked:
                guess = self.lower + plan[0][self._at]
                self._asked = True
                self.guessed.add(guess)
                return guess
            # The last guess went unreported: off the plan, unless nothing
            # is left (then the state stays as it was).
            self._plan, node_before = None, self._node
            self._node = {}
            try:
                return self._next_off_plan()
            except ProtocolError:  # no candidates: nothing changes
                self._plan, self._node = plan, node_before
                raise
        return self._next_off_plan()

    def _next_off_plan(self) -> int:
        node: _Node | None = self._node.get(_AGAIN) if self._asked else self._node
        if node is None or _GUESS not in node:
            guess = self._guess()  # may raise NO_CANDIDATES: nothing changed yet
            if node is None:
                node = _GAMES.child(self._node, _AGAIN)
            node[_GUESS] = (guess - self.lower, self._planned, self._frame)
        else:
            offset, self._planned, self._frame = node[_GUESS]
            guess = self.lower + offset
        self._node = node
        self._asked = True
        self.guessed.add(guess)
        return guess

    def check_candidates(self) -> None:
        guessed = self.guessed
        a, b = self.a, self.b
        while a <= b and a in guessed:
            a += 1
        while a <= b and b in guessed:
            b -= 1
        if a > b:
            raise no_candidates("no number is consistent with the reports")
        # The bounds narrowed past guessed numbers, as the next guess would:
        # a game asked again and again at --max-guesses scans them once.
        self.a, self.b = a, b

    def observe(self, guess: int, decision: Decision) -> None:
        self._asked = False
        prev = self.prev
        plan = self._plan
        if plan is None:
            self._node = _GAMES.child(self._node, decision)
        elif decision is not Decision.CORRECT:
            if prev is None:
                slot = 0  # no comparison yet: one way on
            elif decision is Decision.UNSURE:
                slot = 2
            else:
                slot = 0 if (decision is Decision.WARMER) == (guess < prev) else 1
            at = plan[1][3 * self._at + slot]
            if at < 0:
                # A report no secret gives: off the plan, where the
                # contradiction shows up as no candidates.
                self._plan = None
                self._node = {}
            else:
                self._at = at
        self.prev = guess
        self.reported += 1
        if decision is Decision.CORRECT or prev is None:
            # The first report has nothing to compare with: whatever it says,
            # it carries no information (an honest client says UNSURE).
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

    def fork(self) -> SmartStrategy:
        """An independent copy of this game in its current state (to explore
        what each report would lead to, as :mod:`.measure` does)."""
        twin = copy.copy(self)
        twin.guessed = set(self.guessed)
        return twin

    # -- choosing -----------------------------------------------------------

    def _guess(self) -> int:
        self.check_candidates()
        guessed = self.guessed
        a, b = self.a, self.b
        if b - a < ENDGAME + len(guessed):
            candidates = tuple(x for x in range(a, b + 1) if x not in guessed)
            if len(candidates) <= ENDGAME:
                lower, prev = self.lower, self.prev
                frame = self._frame or _Frame(
                    tuple(c - lower for c in candidates),
                    None if prev is None else prev - lower,
                    self.upper - lower,
                )
                guess, depth = _endgame_guess(
                    candidates, prev, lower, guessed, frame, self._planned
                )
                self._frame = frame
                self._planned = depth - 1
                return guess
        lower, upper, prev = self.lower, self.upper, self.prev
        size = upper - lower + 1
        first = lower + size // 9
        if prev is None:
            # The opening, or (after unreported guesses) the lowest number
            # still open: nothing to compare with yet.
            return first if first not in guessed else a
        if self.reported == 1 and prev == first:
            third = (size + 1) // 3
            second = lower + third + (size - third) // 3
            if second not in guessed:
                return second
        reflection = a + b - prev
        if lower <= reflection <= upper and reflection != prev and reflection not in guessed:
            return reflection
        return self._best_nearby(a, b, prev)

    def _best_nearby(self, a: int, b: int, prev: int) -> int:
        """The reflection is not a legal guess: the cheapest of the clamped
        reflection, its neighbours and the guesses that make [a, b] free."""
        lower, upper, guessed = self.lower, self.upper, self.guessed
        clamped = min(max(a + b - prev, lower), upper)
        options = [clamped, clamped + 1, clamped - 1, clamped + 2, clamped - 2]
        # A previous guess p with low <= 3p <= high makes [a, b] free.
        span = b - a
        low = max(3 * a + 2 * span - 3 * (a - lower), 3 * a + span - 3 * (upper - b))
        high = min(3 * a + 2 * span + 3 * (a - lower), 3 * a + span + 3 * (upper - b))
        if low <= high:
            middle = (low + high) // 6
            options += [middle, middle + 1, -(-low // 3), high // 3]
        best_cost = best = None
        for guess in options:
            if not lower <= guess <= upper or guess in guessed or guess == prev:
                continue
            cost = _split_cost(a, b, prev, guess, lower, upper, guessed)
            if cost is not None and (best_cost is None or cost < best_cost):
                best_cost, best = cost, guess
        if best is not None:
            return best
        # Nothing near splits anything: any open candidate teaches something.
        for guess in range(a, b + 1):
            if guess not in guessed:
                return guess
        raise no_candidates("no number is consistent with the reports")  # pragma: no cover


def _split_cost(
    a: int, b: int, prev: int, guess: int, lower: int, upper: int, guessed: set[int]
) -> float | None:
    """The estimated guesses still needed after ``guess`` (the worse part), or
    None when it teaches nothing."""
    twice_mid = prev + guess
    progress = a <= guess <= b
    worst = 0.0
    for low, high in ((a, min(b, (twice_mid - 1) // 2)), (max(a, twice_mid // 2 + 1), b)):
        while low <= high and (low in guessed or low == guess):
            low += 1
        while low <= high and (high in guessed or high == guess):
            high -= 1
        if low > high:
            continue
        if (low, high) != (a, b):
            progress = True
        worst = max(worst, _cost(low, high, guess, lower, upper))
    if twice_mid % 2 == 0 and a <= twice_mid // 2 <= b:
        progress = True
        worst = max(worst, 1.0)
    return worst if progress else None


def _cost(a: int, b: int, prev: int, lower: int, upper: int) -> float:
    """Guesses needed for [a, b] after ``prev``: log2(count + 1) when halving
    by reflection stays within the walls (one number of rounding allowed),
    one more when a guess must first reposition, two when even that cannot
    make it free."""
    span = b - a
    bits = math.log2(span + 2)
    if (
        abs(3 * (prev - a) - 2 * span) <= 3 * (a - lower) + 3
        and abs(3 * (prev - a) - span) <= 3 * (upper - b) + 3
    ):
        return bits
    if 3 * (a - lower + upper - b) >= span:
        return 1 + bits
    return 2 + bits


# -- small ranges: the optimal plans ------------------------------------------

#: A decoded plan: the guess (offset from the lower bound) per node, and per
#: node three children (lower side, upper side, on the midpoint; -1: none).
_Plan = tuple[list[int], list[int]]

_DECODED: dict[int, _Plan] = {}


def _plan(size: int) -> _Plan | None:
    """The optimal plan for ranges of ``size`` numbers, if there is one."""
    if size > TABLE_MAX:
        return None
    plan = _DECODED.get(size)
    if plan is None:
        plan = _DECODED[size] = _decode(PLANS[size])
    return plan


def _decode(text: str) -> _Plan:
    """A plan as ``tools/optimum.py`` encodes it: nodes in preorder, two
    bytes each, the guess times 8 plus a bit per child present."""
    values = array("H", base64.b64decode(text))
    if sys.byteorder == "little":
        values.byteswap()  # stored big-endian
    count = len(values)
    guesses = [value >> 3 for value in values]
    kids = [-1] * (3 * count)
    # Preorder: each node is followed by its children's subtrees in order.
    stack: list[tuple[int, int]] = []  # (node, its children still to read)
    for at, value in enumerate(values):
        if stack:
            parent, mask = stack.pop()
            slot = (mask & -mask).bit_length() - 1
            kids[3 * parent + slot] = at
            if mask & (mask - 1):
                stack.append((parent, mask & (mask - 1)))
        if value & 7:
            stack.append((at, value & 7))
    return guesses, kids


# -- the endgame: exhaustive search ------------------------------------------

#: Where the search may guess: three windows, (low, high) each, flattened.
_Zones = tuple[int, int, int, int, int, int]
_Parts = list[tuple[int, ...]]

#: Searched endgame states -> a guess that finishes in time, or None. Shared
#: by every game; cleared when full (plain dict operations: thread-safe).
_SEARCHED: dict[tuple[Any, ...], int | None] = {}
_SEARCHED_SIZE = 1 << 11


class _Frame:
    """Where an endgame search may guess, and the coordinates it runs in.

    The search guesses near the candidates, near the previous guess, or near
    the mirror image of the candidates about it (each guess places a
    threshold among the candidates, so the next one lies near the mirror
    image of the candidates about it, and so on): three windows, ``reach``
    numbers around those places, within the range. Confined to them, the
    search needs only the earlier guesses that lie in them.

    Its coordinates count from the first candidate, and a previous guess far
    away is brought to a fixed distance: its window moves with it, the mirror
    window the other way, so every threshold stays where it is, and a guess
    near the candidates splits nothing at either distance. An endgame then
    has the same states wherever it lies and however far the previous guess,
    and the search's cache serves games on ranges of any size. A game keeps
    the frame of its first endgame search, whose cached plan its later
    guesses follow.
    """

    __slots__ = ("origin", "shift", "low0", "high0", "low1", "high1", "low2", "high2", "zones")

    def __init__(self, candidates: tuple[int, ...], prev: int | None, top: int) -> None:
        # Numbers from 0 (the lower bound) to top (the upper bound), so that
        # the memo can keep the frame for every range of the size.
        lower, upper = 0, top
        first, last = candidates[0], candidates[-1]
        span = last - first
        reach = 16 * (span + 2)
        low0, high0 = max(first - reach, lower), min(last + reach, upper)
        if prev is None:
            low1 = low2 = 1
            high1 = high2 = 0
        else:
            mirror = 2 * first - prev
            low1, high1 = max(prev - reach, lower), min(prev + reach, upper)
            low2, high2 = max(mirror - reach, lower), min(mirror + 2 * span + reach, upper)
        shift = 0
        if prev is not None:
            gap = 2 * span + 2 * reach + 2
            if prev < first - gap:
                shift = first - gap - prev
            elif prev > last + gap:
                shift = last + gap - prev
        self.origin, self.shift = first, shift
        self.low0, self.high0 = low0, high0
        self.low1, self.high1, self.low2, self.high2 = low1, high1, low2, high2
        #: The three windows in the search's coordinates.
        self.zones: _Zones = (
            low0 - first,
            high0 - first,
            low1 + shift - first,
            high1 + shift - first,
            low2 - shift - first,
            high2 - shift - first,
        )

    def inward(self, x: int) -> int:
        """A number of the game (from the lower bound) in the search's
        coordinates."""
        if self.shift and self.low1 <= x <= self.high1:
            return x + self.shift - self.origin
        if self.shift and self.low2 <= x <= self.high2:
            return x - self.shift - self.origin
        return x - self.origin

    def outward(self, x: int) -> int:
        """A guess of the search as a number of the game (from the lower
        bound)."""
        zones = self.zones
        if self.shift and zones[2] <= x <= zones[3]:
            return x - self.shift + self.origin
        if self.shift and zones[4] <= x <= zones[5]:
            return x + self.shift + self.origin
        return x + self.origin

    def holds(self, x: int) -> bool:
        """Whether a number of the game (from the lower bound) is in reach."""
        return (
            self.low0 <= x <= self.high0
            or self.low1 <= x <= self.high1
            or self.low2 <= x <= self.high2
        )


def _endgame_guess(
    candidates: tuple[int, ...],
    prev: int | None,
    lower: int,
    guessed: set[int],
    frame: _Frame,
    planned: int | None = None,
) -> tuple[int, int]:
    """The first guess of a shortest worst case for the given candidates
    (sorted, none guessed), found by exhaustive search over the guesses that
    can make a difference within ``frame``, and that worst case in guesses.

    ``planned``: the depth an earlier search found for this state (it
    checked then that every report leaves a state solvable in time): the
    search starts there rather than at the lower bound, and finds the
    checked plan in its cache.
    """
    inward, holds = frame.inward, frame.holds
    near = frozenset(inward(g - lower) for g in guessed if holds(g - lower))
    relative = tuple(inward(c - lower) for c in candidates)
    start = None if prev is None else inward(prev - lower)
    depth = _lower_bound(relative, start) if planned is None else max(planned, 1)
    while True:
        guess = _search(relative, start, depth, frame.zones, near)
        if guess is not None:
            return lower + frame.outward(guess), depth
        depth += 1


def _lower_bound(candidates: tuple[int, ...], prev: int | None) -> int:
    """The depth to start searching at: fewest guesses that can find any of
    the candidates. A guess answers "correct", "unsure" (one number) or one of
    two sides; before the first report only "correct" or not.

    With the previous guess farther from the candidates than they span, a
    guess among them splits nothing and one outside them leaves the part on
    the previous guess's side with the new previous guess far again: halving,
    2**d - 1 candidates in d guesses, is the best there (up to contrived
    patterns of guessed numbers among the candidates), and starting there
    spares the search a slow failure. Where that is not quite the best, the
    plan is one guess longer than it could be, never wrong.
    """
    count = len(candidates)
    if count == 1:
        return 1
    span = candidates[-1] - candidates[0]
    if prev is not None and not candidates[0] - span <= prev <= candidates[-1] + span:
        return count.bit_length()
    depth = 2
    while (1 + _capacity(depth - 1) if prev is None else _capacity(depth)) < count:
        depth += 1
    return depth


def _capacity(depth: int) -> int:
    """The most candidates ``depth`` guesses can tell apart: 1, 4, 10, 22..."""
    return 3 * (1 << (depth - 1)) - 2


def _search(
    candidates: tuple[int, ...],
    prev: int | None,
    depth: int,
    zones: _Zones,
    guessed: frozenset[int],
) -> int | None:
    """A guess after which every candidate is found within ``depth`` guesses
    in all, or None."""
    count = len(candidates)
    if count == 1:
        return candidates[0]
    if depth < 2 or count > _capacity(depth):
        return None
    key = (candidates, prev, depth, zones, guessed)
    try:
        return _SEARCHED[key]
    except KeyError:
        pass
    found = None
    room = _capacity(depth - 1)
    for guess, parts in _options(candidates, prev, zones, guessed, room):
        after = guessed | {guess}
        if all(_search(part, guess, depth - 1, zones, after) is not None for part in parts):
            found = guess
            break
    if len(_SEARCHED) >= _SEARCHED_SIZE:
        _SEARCHED.clear()
    _SEARCHED[key] = found
    return found


def _options(
    candidates: tuple[int, ...],
    prev: int | None,
    zones: _Zones,
    guessed: frozenset[int],
    room: int,
) -> Iterator[tuple[int, _Parts]]:
    """The guesses worth trying, each with the parts it splits the other
    candidates into (none over ``room``), most even split first."""
    seen: set[int] = set()

    low, high, low1, high1, low2, high2 = zones

    def legal(guess: int) -> bool:
        if guess in seen or guess in guessed or guess == prev:
            return False
        seen.add(guess)
        return low <= guess <= high or low1 <= guess <= high1 or low2 <= guess <= high2

    first, last = candidates[0], candidates[-1]
    if prev is None or high - low < _SMALL_RANGE:
        # Few numbers in reach (or no report yet): try each of them.
        pool = range(low, high + 1) if high - low < _SMALL_RANGE else candidates
        scored = []
        for guess in pool:
            if not legal(guess):
                continue
            parts = _split(candidates, prev, guess)
            if parts is None:
                continue
            largest = max(map(len, parts), default=0)
            if largest <= room:
                centre2 = 2 * guess if prev is None else guess + prev
                scored.append((largest, abs(centre2 - first - last), guess, parts))
        scored.sort(key=lambda item: item[:3])
        for _, _, guess, parts in scored:
            yield guess, parts
        return
    # Thresholds on a candidate or between two neighbours: every guess that
    # places the threshold there splits the candidates the same way (a guess
    # on each side of the middle of a gap, too). Outwards from the middle
    # slot, so the most even splits come first.
    count = len(candidates)
    members = set(candidates)
    middle = count - 1
    for distance in range(count):
        for slot in (middle - distance, middle + distance) if distance else (middle,):
            i = (slot + 1) // 2  # slot 2i: on candidate i; slot 2i - 1: just below it
            if slot % 2 == 0:
                if max(i, count - 1 - i) > room:
                    continue
                guesses: tuple[int, ...] = (2 * candidates[i] - prev,)
                parts = [candidates[:i], candidates[i + 1 :], candidates[i : i + 1]]
            else:
                if max(i, count - i) > room:
                    continue
                mirror = candidates[i - 1] + candidates[i] - prev
                wide = candidates[i] - candidates[i - 1] > 1
                guesses = (mirror, mirror - 1, mirror + 1) if wide else (mirror,)
                parts = [candidates[:i], candidates[i:]]
            for guess in guesses:
                if not legal(guess):
                    continue
                if guess in members:
                    others = (tuple(c for c in part if c != guess) for part in parts)
                    yield guess, [part for part in others if part]
                else:
                    yield guess, [part for part in parts if part]
    # Guesses among the candidates: they may split nothing, but one of them
    # may be the secret.
    for guess in candidates:
        if legal(guess):
            parts = _split(candidates, prev, guess)
            if parts is not None and max(map(len, parts), default=0) <= room:
                yield guess, parts


def _split(candidates: tuple[int, ...], prev: int | None, guess: int) -> _Parts | None:
    """The candidates other than ``guess`` grouped by the report they give,
    or None if ``guess`` teaches nothing."""
    others = tuple(c for c in candidates if c != guess)
    if prev is None:
        return [others] if others else []
    warmer, colder, unsure = [], [], []
    for c in others:
        d_guess, d_prev = abs(guess - c), abs(prev - c)
        if d_guess < d_prev:
            warmer.append(c)
        elif d_guess > d_prev:
            colder.append(c)
        else:
            unsure.append(c)
    parts = [tuple(p) for p in (warmer, colder, unsure) if p]
    if len(parts) == 1 and len(parts[0]) == len(candidates):
        return None
    return parts
