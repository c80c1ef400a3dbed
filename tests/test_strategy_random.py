"""The seed's guesser: uniform, never repeating, O(1) per guess, never looping."""

from __future__ import annotations

import random
import time
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guessgame.protocol import INT64_MAX, INT64_MIN, Decision, ErrorCode, ProtocolError
from guessgame.strategies import STRATEGIES, RandomStrategy


def draw_all(s: RandomStrategy, n: int) -> list[int]:
    return [s.next_guess() for _ in range(n)]


def test_registered_as_random() -> None:
    assert STRATEGIES["random"] is RandomStrategy


@given(st.integers(-50, 50), st.integers(0, 60), st.integers(0, 2**32))
def test_a_permutation_of_the_range(lower: int, width: int, seed: int) -> None:
    upper = lower + width
    s = RandomStrategy(lower, upper, random.Random(seed))
    guesses = draw_all(s, width + 1)
    assert sorted(guesses) == list(range(lower, upper + 1))


def test_exhausted_exactly_after_every_number() -> None:
    s = RandomStrategy(1000, 1999, random.Random(1))
    start = time.perf_counter()
    guesses = draw_all(s, 1000)
    assert sorted(guesses) == list(range(1000, 2000))
    for _ in range(3):
        with pytest.raises(ProtocolError) as info:
            s.next_guess()
        assert info.value.code is ErrorCode.NO_CANDIDATES
    assert s.drawn == 1000
    assert time.perf_counter() - start < 1.0


def test_nearly_exhausted_range_still_answers_at_once() -> None:
    s = RandomStrategy(0, 99_999, random.Random(2))
    guesses = draw_all(s, 99_999)
    start = time.perf_counter()
    last = s.next_guess()
    assert time.perf_counter() - start < 0.05
    assert {*guesses, last} == set(range(100_000))


def test_feedback_is_ignored() -> None:
    a = RandomStrategy(1, 1000, random.Random(7))
    b = RandomStrategy(1, 1000, random.Random(7))
    for decision in [Decision.UNSURE, Decision.WARMER, Decision.COLDER] * 10:
        g = a.next_guess()
        a.observe(g, decision)
        assert b.next_guess() == g


@pytest.mark.parametrize(
    "lower,upper", [(INT64_MIN, INT64_MAX), (INT64_MIN, INT64_MIN + 2**63), (0, INT64_MAX)]
)
def test_huge_ranges(lower: int, upper: int) -> None:
    s = RandomStrategy(lower, upper, random.Random(3))
    assert s.size == upper - lower + 1
    start = time.perf_counter()
    guesses = draw_all(s, 20_000)
    assert time.perf_counter() - start < 2.0
    assert len(set(guesses)) == 20_000
    assert all(lower <= g <= upper for g in guesses)
    # Spread over the range, not clustered at one end.
    mid = lower + (upper - lower) // 2
    below = sum(g <= mid for g in guesses)
    assert 9_000 < below < 11_000


def test_memory_grows_with_guesses_not_with_the_range() -> None:
    s = RandomStrategy(INT64_MIN, INT64_MAX, random.Random(4))
    draw_all(s, 5000)
    assert len(s._moved) <= 5000


def test_single_number_range() -> None:
    s = RandomStrategy(INT64_MAX, INT64_MAX, random.Random(5))
    assert s.next_guess() == INT64_MAX
    with pytest.raises(ProtocolError):
        s.next_guess()


def test_first_guess_is_uniform() -> None:
    rng = random.Random(6)
    counts = Counter(RandomStrategy(1, 10, rng).next_guess() for _ in range(20_000))
    assert set(counts) == set(range(1, 11))
    # Expected 2000 each; the standard deviation is about 42.
    assert all(1750 < c < 2250 for c in counts.values()), counts


def test_every_position_is_uniform() -> None:
    # The k-th guess is uniform over the range too, for every k.
    rng = random.Random(8)
    by_position = [Counter() for _ in range(6)]  # type: list[Counter[int]]
    for _ in range(6000):
        for pos, g in enumerate(draw_all(RandomStrategy(0, 5, rng), 6)):
            by_position[pos][g] += 1
    for counts in by_position:
        assert all(800 < c < 1200 for c in counts.values()), counts


def test_reproducible_with_a_seed() -> None:
    a = draw_all(RandomStrategy(-(10**12), 10**12, random.Random(9)), 100)
    b = draw_all(RandomStrategy(-(10**12), 10**12, random.Random(9)), 100)
    assert a == b


@settings(max_examples=50)
@given(st.integers(1, 300), st.integers(0, 2**32))
def test_no_candidates_leaves_the_state(size: int, seed: int) -> None:
    s = RandomStrategy(0, size - 1, random.Random(seed))
    draw_all(s, size)
    snapshot = (s.drawn, dict(s._moved))
    with pytest.raises(ProtocolError):
        s.next_guess()
    assert (s.drawn, dict(s._moved)) == snapshot
