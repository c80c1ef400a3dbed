"""The exact solver of ``tools/optimum.py`` against a plain minimax, and the
optimal plans ``smart`` plays against the solver."""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest

from guessgame.strategies import SmartStrategy, _optimal
from guessgame.strategies.measure import play_every_secret

ROOT = Path(__file__).resolve().parent.parent


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("optimum", ROOT / "tools" / "optimum.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["optimum"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


optimum = _load()

#: The known optimum for N = 1..11 (the first guess only says "correct" or
#: not, and each later one finds its own number, one on the midpoint, or
#: tells a side: 1, 4, 10, 22, ... numbers in 1, 2, 3, 4, ... guesses).
KNOWN = [1, 2, 3, 3, 3, 4, 4, 4, 4, 4, 5]


def brute_force(n: int) -> int:
    """The least worst case on [0, n-1] by plain minimax over every state
    of the real game (candidates, previous guess, every guess made), every
    guess tried: no bounds, no relaxation, nothing shared with the solver."""

    @cache
    def value(secrets: frozenset[int], prev: int | None, made: frozenset[int]) -> int:
        best = n + 1
        for guess in range(n):
            if guess in made:
                continue
            groups: dict[int, set[int]] = {}
            for s in secrets:
                if s == guess:
                    continue
                if prev is None:
                    report = 0
                else:
                    report = (abs(prev - s) > abs(guess - s)) - (abs(prev - s) < abs(guess - s))
                groups.setdefault(report, set()).add(s)
            worst = 1
            for group in groups.values():
                worst = max(worst, 1 + value(frozenset(group), guess, made | {guess}))
                if worst >= best:
                    break
            best = min(best, worst)
        return best

    return value(frozenset(range(n)), None, frozenset())


def test_brute_force_knows_the_known_values() -> None:
    assert [brute_force(n) for n in range(1, 12)] == KNOWN


def test_solver_agrees_with_brute_force() -> None:
    solver = optimum.Solver()
    for n in range(1, 13):
        opt, bound, plan = optimum.optimum(n, solver)
        assert opt == brute_force(n), n
        assert bound <= opt
        worst, total = optimum.plan_counts(plan, n)
        assert worst == opt
        assert total >= n


def test_solver_known_values_and_the_first_levels() -> None:
    solver = optimum.Solver()
    got = [optimum.optimum(n, solver)[0] for n in range(1, 41)]
    assert got[:11] == KNOWN
    # The optimum reaches floor(log2 3N) for every N up to 40 but 21 and
    # 36..40 (the windows just below a step of floor(log2 3N)).
    above = [n for n in range(1, 41) if got[n - 1] > (3 * n).bit_length() - 1]
    assert above == [21, 36, 37, 38, 39, 40]
    assert got == [_optimal.OPTIMUM[n] for n in range(1, 41)]


def test_plan_counts_catches_a_bad_plan() -> None:
    solver = optimum.Solver()
    _, _, plan = optimum.optimum(5, solver)
    first, (rest, _, _) = plan
    with pytest.raises(AssertionError, match="illegal guess"):
        optimum.plan_counts((first, ((first, rest[1]), None, None)), 5)
    with pytest.raises(AssertionError, match="without a plan"):
        optimum.plan_counts((first, ((rest[0], (None, None, None)), None, None)), 5)


def test_least_mean_within_the_optimum() -> None:
    solver = optimum.Solver()
    # Least mean among the strategies of optimal worst case, and a worst
    # case one guess longer cannot lower it below what any strategy needs.
    assert optimum.least_mean(1, 1, solver) == 1.0
    assert optimum.least_mean(6, 4, solver) == pytest.approx(16 / 6)
    assert optimum.least_mean(11, 5, solver) == pytest.approx(37 / 11)
    for n in (8, 12):
        opt = optimum.optimum(n, solver)[0]
        assert optimum.least_mean(n, opt + 1, solver) <= optimum.least_mean(n, opt, solver)


def test_plans_roundtrip_through_the_encoding() -> None:
    solver = optimum.Solver()
    for n in (1, 2, 7, 21, 40):
        _, _, plan = optimum.optimum(n, solver)
        assert optimum.encode(plan) == _optimal.PLANS[n]


# -- smart plays the plans ---------------------------------------------------


def test_smart_reaches_the_optimum_for_every_n_of_the_table() -> None:
    # Every secret of every N up to the table's end, by walking the tree.
    assert _optimal.TABLE_MAX >= 128
    off = {}
    for n in range(1, _optimal.TABLE_MAX + 1):
        counts = play_every_secret(SmartStrategy(0, n - 1), 0, n - 1)
        if counts.worst != _optimal.OPTIMUM[n]:
            off[n] = (counts.worst, _optimal.OPTIMUM[n])
    assert off == {}


def test_the_table_covers_every_n_within_the_bounds() -> None:
    """Every N up to TABLE_MAX has an optimum and a plan, between the count
    bound and floor(log2 3N) + 1. (The values are the solver's own; the
    solver is checked against brute force up to N = 12 and against the
    table up to N = 40 above; past that, the table is as exact as the run of
    tools/optimum.py that wrote it.)"""
    assert sorted(_optimal.OPTIMUM) == list(range(1, _optimal.TABLE_MAX + 1))
    assert sorted(_optimal.PLANS) == list(range(1, _optimal.TABLE_MAX + 1))
    for n, value in _optimal.OPTIMUM.items():
        # Never below the count bound, never above floor(log2 3N) + 1.
        assert optimum.first_guess_bound(n) <= value <= (3 * n).bit_length()
