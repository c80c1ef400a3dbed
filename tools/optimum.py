"""The exact optimum of the guessing game: the least worst case of any strategy.

The game (SPEC §2): the guesser picks numbers in ``[0, N-1]``, never one it
guessed before; a guess equal to the secret ends the game and is counted;
each other guess is answered by comparing its distance to the secret with
that of the previous guess (the first guess: no comparison). The optimum
``opt(N)`` is the least ``d`` such that some strategy finds every secret
within ``d`` guesses.

How it is computed, and why it is exact:

* **A relaxed game for the lower bound.** The guesser of the relaxed game
  may repeat a guess that is not a candidate (every rule else is the
  same). It is at least as strong as the real guesser, so its optimum is
  at most the real one. Its state is small: the candidates (an interval
  minus the guesses that fell inside it), the previous guess and the two
  walls of the range; earlier guesses elsewhere no longer matter.
* **A real strategy for the upper bound.** The real game (no repeat at
  all) is then searched at that depth, its states carrying every guess
  made; the relaxed results prune it (a state the relaxed guesser cannot
  finish in time, the real one cannot either). A strategy found there
  proves the bound; if none exists the depth grows, and the search is
  exhaustive, so the first depth that works is the optimum either way.
* **Search.** Depth-first, iterative deepening on the depth, memoised.
  Pruned by what ``d`` guesses can tell apart at all, ``c(d) = 3 * 2**(d-1)
  - 2`` (a guess finds its own number, the "unsure" report one more, and
  splits the rest in two); guesses tried most even split first. Every
  number of the range is a legal guess, those that split nothing too (a
  guess can be worth its new position alone).
* **Walls.** Moving a wall outwards only adds legal guesses, so a state
  solvable between narrower walls is solvable between wider ones and the
  reverse for unsolvable states: the memo keeps, per candidates, previous
  guess and depth (relative to the first candidate), the wall distances
  seen with their result and answers by dominance. Games on different N
  share their states that way.

    .venv/bin/python tools/optimum.py --max 128 [--json out.json]

prints ``N  opt  seconds`` per N.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = [
    "Plan",
    "Solver",
    "capacity",
    "encode",
    "first_guess_bound",
    "least_mean",
    "optimum",
    "plan_counts",
]

Cands = tuple[int, ...]


def capacity(depth: int) -> int:
    """The most candidates ``depth`` guesses can tell apart once a previous
    guess exists: 1, 4, 10, 22, 46, ... (``c(d) = 2 c(d-1) + 2``)."""
    return 3 * (1 << (depth - 1)) - 2 if depth >= 1 else 0


def first_guess_bound(n: int) -> int:
    """The fewest guesses the count alone allows for N numbers: the first
    guess only says "correct" or not."""
    d = 1
    while 1 + capacity(d - 1) < n:
        d += 1
    return d


def _parts(cands: Cands, prev: int, guess: int) -> list[Cands]:
    """The candidates other than ``guess`` grouped by the report they give
    (lower side of the midpoint, upper side, exactly on it)."""
    twice = prev + guess
    i = bisect_right(cands, (twice - 1) // 2)  # c < mid
    j = bisect_right(cands, twice // 2)  # c <= mid
    out = []
    for part in (cands[:i], cands[j:], cands[i:j]):
        if part and guess in part:
            part = tuple(c for c in part if c != guess)
        if part:
            out.append(part)
    return out


@dataclass
class Solver:
    """The relaxed game's search (lower bounds), shared by every N."""

    #: (candidates, previous guess, depth), relative to the first candidate
    #: -> the wall distances seen, (low, high, solvable).
    memo: dict[tuple[Cands, int, int], list[tuple[int, int, bool]]] = field(default_factory=dict)
    states: int = 0

    def solvable(self, cands: Cands, prev: int, lo: int, hi: int, depth: int) -> bool:
        """Whether the relaxed guesser, after ``prev``, finds every secret of
        ``cands`` (sorted) within ``depth`` guesses, guessing in [lo, hi]."""
        n = len(cands)
        if n == 1:
            return depth >= 1
        if depth < 2 or n > capacity(depth):
            return False
        first = cands[0]
        key = (tuple(c - first for c in cands) if first else cands, prev - first, depth)
        dl, dh = first - lo, hi - cands[-1]
        seen = self.memo.get(key)
        if seen is None:
            seen = self.memo[key] = []
        else:
            for low, high, ok in seen:
                if ok and low <= dl and high <= dh:
                    return True
                if not ok and low >= dl and high >= dh:
                    return False
        self.states += 1
        found = any(
            all(self.solvable(part, guess, lo, hi, depth - 1) for part in parts)
            for guess, parts in self.moves(cands, prev, lo, hi, capacity(depth - 1))
        )
        seen.append((dl, dh, found))
        return found

    @staticmethod
    def moves(
        cands: Cands, prev: int, lo: int, hi: int, room: int
    ) -> Iterator[tuple[int, list[Cands]]]:
        """Every guess in [lo, hi] but ``prev`` that leaves no part over
        ``room``, with its parts: most even split first."""
        n = len(cands)
        first, last = cands[0], cands[-1]
        scored = []
        # A guess g splits at the midpoint of prev and g: at most room + 1
        # candidates below it and above it (one of them may be g itself).
        # That bounds prev + g from both sides; every other guess leaves
        # more than room + 1 together, or splits nothing.
        top = 2 * cands[room + 1] if room + 1 < n else 2 * last + 2
        bottom = 2 * cands[n - room - 2] if n - room - 2 >= 0 else 2 * first - 2
        window = range(max(lo, bottom - prev), min(hi, top - prev) + 1)
        if n - 1 <= room:
            # Guesses that split nothing (a new position, or finding one
            # candidate) fit too: every number of the range.
            window = range(lo, hi + 1)
        for guess in window:
            if guess == prev:
                continue
            twice = prev + guess
            i = bisect_right(cands, (twice - 1) // 2)
            j = bisect_right(cands, twice // 2)
            # Sizes before taking the guess itself out of its side.
            if i - 1 > room or n - j - 1 > room:
                continue
            parts = _parts(cands, prev, guess)
            largest = max(map(len, parts), default=0)
            if largest > room:
                continue
            if largest == n:  # teaches nothing and finds nothing: a new position only
                scored.append((largest, 1, abs(2 * guess - first - last), guess, parts))
            else:
                scored.append((largest, 0, abs(twice - first - last), guess, parts))
        scored.sort(key=lambda item: item[:4])
        for item in scored:
            yield item[3], item[4]

    def relaxed_optimum(self, n: int, start: int | None = None) -> tuple[int, int]:
        """The relaxed game's optimum on [0, n-1] and a first guess for it."""
        depth = max(first_guess_bound(n), start or 1)
        while True:
            for g1 in _first_guesses(n):
                cands = tuple(c for c in range(n) if c != g1)
                if not cands or self.solvable(cands, g1, 0, n - 1, depth - 1):
                    return depth, g1
            depth += 1


def _first_guesses(n: int) -> list[int]:
    """First guesses up to the middle (the mirror image plays the same), the
    likely ones (about n/5, where the best ones lie) first."""
    half = list(range((n + 1) // 2))
    return sorted(half, key=lambda g: abs(5 * g - n))


#: States of up to this many candidates get a plan of least total guesses.
LEAST_TOTAL_FROM = 12

# -- the real game: strategies without any repeat ------------------------------

#: A plan: the guess, then the plan for each report (lower side, upper side,
#: on the midpoint), None where no candidate is left.
Plan = tuple[int, "tuple[Plan | None, Plan | None, Plan | None]"]


@dataclass
class RealSearch:
    """The real game on [0, n-1], guided by the relaxed solver."""

    n: int
    relaxed: Solver
    memo: dict[tuple[Cands, int, frozenset[int], int], int | None] = field(default_factory=dict)
    least: LeastTotal | None = None

    def guess(self, cands: Cands, prev: int, made: frozenset[int], depth: int) -> int | None:
        """A guess after which every candidate is found within ``depth``
        guesses in all (no guess repeated), or None."""
        n = len(cands)
        if n == 1:
            return cands[0] if depth >= 1 else None
        if not self.relaxed.solvable(cands, prev, 0, self.n - 1, depth):
            return None
        key = (cands, prev, made, depth)
        if key in self.memo:
            return self.memo[key]
        found = None
        for guess, parts in Solver.moves(cands, prev, 0, self.n - 1, capacity(depth - 1)):
            if guess in made:
                continue
            after = made | {guess}
            if all(self.guess(part, guess, after, depth - 1) is not None for part in parts):
                found = guess
                break
        self.memo[key] = found
        return found

    def plan(self, cands: Cands, prev: int, made: frozenset[int], depth: int) -> Plan:
        """The whole strategy from a state known solvable within ``depth``:
        from :data:`LEAST_TOTAL_FROM` candidates down, one of least total
        (the mean), above the first found."""
        guess = None
        if len(cands) <= LEAST_TOTAL_FROM:
            if self.least is None:
                self.least = LeastTotal(self.n, self.relaxed, splitting_only=True)
            # None if only a guess that splits nothing keeps the worst case.
            guess = self.least.best(cands, prev, made, depth)
        if guess is None:
            guess = self.guess(cands, prev, made, depth)
        assert guess is not None
        after = made | {guess}
        twice = prev + guess
        sides: list[Plan | None] = []
        for part in (
            tuple(c for c in cands if 2 * c < twice and c != guess),
            tuple(c for c in cands if 2 * c > twice and c != guess),
            tuple(c for c in cands if 2 * c == twice and c != guess),
        ):
            sides.append(self.plan(part, guess, after, depth - 1) if part else None)
        return guess, (sides[0], sides[1], sides[2])


@dataclass
class LeastTotal:
    """The least total of guesses over every secret of [0, n-1] among the
    strategies that finish every secret within a given depth (the real
    game: no repeats). Exhaustive over every guess that fits: only small N."""

    n: int
    relaxed: Solver
    #: Only guesses that find or split something (not those that only move
    #: the previous guess): no longer exhaustive, much faster; for plans.
    splitting_only: bool = False
    memo: dict[tuple[Cands, int, frozenset[int], int], int] = field(default_factory=dict)

    def best(self, cands: Cands, prev: int, made: frozenset[int], depth: int) -> int | None:
        """A guess of least total within ``depth``, or None."""
        target = self.total(cands, prev, made, depth)
        if target >= INFEASIBLE:
            return None
        if len(cands) == 1:
            return cands[0]
        for guess, parts in Solver.moves(cands, prev, 0, self.n - 1, capacity(depth - 1)):
            if guess not in made:
                after = made | {guess}
                rest = sum(self.total(part, guess, after, depth - 1) for part in parts)
                if len(cands) + rest == target:
                    return guess
        raise AssertionError("the least total has no guess")  # pragma: no cover

    def total(self, cands: Cands, prev: int | None, made: frozenset[int], depth: int) -> int:
        """The least sum, over the candidates, of the guesses still needed
        to find each (the guesses from here on), or ``INFEASIBLE``."""
        n = len(cands)
        if n == 1:
            return 1 if depth >= 1 else INFEASIBLE
        if prev is None:
            best = INFEASIBLE
            for g1 in range(self.n):
                rest = tuple(c for c in cands if c != g1)
                sub = self.total(rest, g1, made | {g1}, depth - 1)
                best = min(best, n + sub)
            return best
        if not self.relaxed.solvable(cands, prev, 0, self.n - 1, depth):
            return INFEASIBLE
        key = (cands, prev, made, depth)
        found = self.memo.get(key)
        if found is not None:
            return found
        best = INFEASIBLE
        for guess, parts in Solver.moves(cands, prev, 0, self.n - 1, capacity(depth - 1)):
            if guess in made or (self.splitting_only and len(parts) == 1 and len(parts[0]) == n):
                continue
            after = made | {guess}
            # Every candidate pays this guess; the others pay their part's.
            sum_ = n
            for part in parts:
                sum_ += self.total(part, guess, after, depth - 1)
                if sum_ >= best:
                    break
            best = min(best, sum_)
        self.memo[key] = best
        return best


#: Larger than any total: a state that cannot be finished in time.
INFEASIBLE = 1 << 60


def least_mean(n: int, depth: int, solver: Solver) -> float:
    """The least mean guesses per secret on [0, n-1] among the strategies
    whose worst case is at most ``depth``."""
    return LeastTotal(n, solver).total(tuple(range(n)), None, frozenset(), depth) / n


def optimum(n: int, solver: Solver) -> tuple[int, int, Plan]:
    """The exact optimum on [0, n-1], with a strategy that reaches it:
    (optimum, the relaxed lower bound, the plan)."""
    bound, _ = solver.relaxed_optimum(n)
    if n == 1:
        return 1, 1, (0, (None, None, None))
    depth = bound
    while True:
        real = RealSearch(n, solver)
        for g1 in _first_guesses(n):
            cands = tuple(c for c in range(n) if c != g1)
            made = frozenset((g1,))
            if real.guess(cands, g1, made, depth - 1) is not None:
                rest = real.plan(cands, g1, made, depth - 1)
                # Before the first report there is no comparison: one part.
                return depth, bound, (g1, (rest, None, None))
        depth += 1


def plan_counts(plan: Plan, n: int) -> tuple[int, int]:
    """(worst, total guesses over every secret) of a plan on [0, n-1],
    walking it as an honest client would answer (independent of the search)."""
    worst = total = 0
    stack: list[tuple[Plan, tuple[int, ...], int | None, int, frozenset[int]]] = [
        (plan, tuple(range(n)), None, 1, frozenset())
    ]
    while stack:
        (guess, kids), secrets, prev, depth, made = stack.pop()
        if not 0 <= guess < n or guess in made:
            raise AssertionError(f"illegal guess {guess}")
        if guess in secrets:
            worst = max(worst, depth)
            total += depth
        rest = tuple(s for s in secrets if s != guess)
        if not rest:
            continue
        groups: tuple[tuple[int, ...], ...]
        if prev is None:
            groups = (rest, (), ())
        else:
            twice = prev + guess
            groups = (
                tuple(s for s in rest if 2 * s < twice),
                tuple(s for s in rest if 2 * s > twice),
                tuple(s for s in rest if 2 * s == twice),
            )
        for group, kid in zip(groups, kids, strict=True):
            if group:
                if kid is None:
                    raise AssertionError(f"secrets {group} left without a plan")
                stack.append((kid, group, guess, depth + 1, made | {guess}))
    return worst, total


def encode(plan: Plan) -> str:
    """A plan as text: its nodes in preorder, two bytes each (the guess
    times 8, plus one bit per report that has a plan: lower side 1, upper
    side 2, on the midpoint 4), base64. Read by ``smart._decode``."""
    out = bytearray()

    def walk(node: Plan) -> None:
        guess, kids = node
        mask = sum(1 << i for i, kid in enumerate(kids) if kid is not None)
        value = guess << 3 | mask
        assert value < 1 << 16
        out.extend(value.to_bytes(2, "big"))
        for kid in kids:
            if kid is not None:
                walk(kid)

    walk(plan)
    return base64.b64encode(bytes(out)).decode("ascii")


TABLE_HEADER = '''"""Optimal plans for ranges of up to {top} numbers (generated; do not edit).

For each N, a strategy whose worst case over every secret of [0, N-1] is
the exact optimum of the game, encoded as ``encode`` in ``tools/optimum.py``
describes. Made by

    .venv/bin/python tools/optimum.py --max {top} --table {path}
"""

#: The largest N with a plan.
TABLE_MAX = {top}

#: N -> the optimum (the least worst case of any strategy).
OPTIMUM: dict[int, int] = {{
{optimum}}}

#: N -> the plan, encoded.
PLANS: dict[int, str] = {{
'''


def table_module(path: str, top: int, optima: dict[int, int], plans: dict[int, str]) -> str:
    """The generated module of plans ``smart`` plays for small ranges."""
    values = "".join(f"    {n}: {optima[n]},\n" for n in range(1, top + 1))
    text = TABLE_HEADER.format(top=top, path=path, optimum=values)
    for n in range(1, top + 1):
        # Laid out as ruff format would (lines of at most 100 characters).
        plan, head = plans[n], f"    {n}: "
        if len(head) + len(plan) + 3 <= 100:
            text += f'{head}"{plan}",\n'
        else:
            width = 90 if len(plan) <= 90 else 80
            chunks = "".join(
                f'        "{plan[i : i + width]}"\n' for i in range(0, len(plan), width)
            )
            text += f"{head}(\n{chunks}    ),\n"
    return text + "}\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max", type=int, default=128, help="largest N (default 128)")
    parser.add_argument(
        "--json", help="write {N: [opt, bound, worst, total, least mean, seconds]} here"
    )
    parser.add_argument(
        "--table", help="write the plans of every N (from 1) as a Python module here"
    )
    parser.add_argument(
        "--least-max",
        type=int,
        default=35,
        help="the least mean (exhaustive) for N up to this (default 35)",
    )
    args = parser.parse_args(argv)
    solver = Solver()
    out: dict[int, list[float | int | None]] = {}
    optima: dict[int, int] = {}
    plans: dict[int, str] = {}
    began = time.perf_counter()
    for n in range(1, args.max + 1):
        t = time.perf_counter()
        opt, bound, plan = optimum(n, solver)
        worst, total = plan_counts(plan, n)
        assert worst == opt, (n, worst, opt)
        least = least_mean(n, opt, solver) if n <= args.least_max else None
        spent = time.perf_counter() - t
        out[n] = [opt, bound, worst, total, least, round(spent, 3)]
        optima[n] = opt
        plans[n] = encode(plan)
        print(
            f"{n} {opt} {bound} {total / n:.3f} {'' if least is None else f'{least:.3f} '}"
            f"{spent:.2f}s {time.perf_counter() - began:.0f}s states={solver.states}",
            flush=True,
        )
        # Written as it goes, so that a run stopped at any N leaves its results.
        if args.json:
            _replace(args.json, json.dumps(out))
        if args.table and (n >= 128 or n == args.max):
            _replace(args.table, table_module(args.table, n, optima, plans))
    print(f"done in {time.perf_counter() - began:.0f} s", file=sys.stderr)


def _replace(path: str, text: str) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


if __name__ == "__main__":
    main()
