"""The guesser that listens: exhaustive worst cases, arbitrary reports, TCP.

Bounds, for a range of N numbers and an honest client that reports every
guess (SPEC §2):

* contract: at most ceil(log2 N) + 2 guesses, for every N up to 2**64;
* goal: floor(log2(3N)) + 1 (the IOI 2010 full-score bound), met for every
  N checked: all N up to 400 and the hardest N of every size class up to
  2**14 exhaustively, every size class up to 2**64 against an adversary;
* optimum: the exact minimax worst case (``tools/optimum.py``) for every N
  of the table of optimal plans (tests/test_optimum.py walks each of them).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Iterable
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guessgame.client import Client
from guessgame.judge import Judge
from guessgame.protocol import INT64_MAX, INT64_MIN, Decision, ErrorCode, ProtocolError
from guessgame.records import Outcome
from guessgame.strategies import DEFAULT_STRATEGY, STRATEGIES, SmartStrategy, _optimal, smart
from guessgame.strategies.measure import play_every_secret
from guessgame.strategies.smart import ENDGAME

#: Every N from 1 to this, every secret, lower bound 0.
EXHAUSTIVE_MAX = 400
#: Every N from 1 to this, every secret, at other offsets.
SHIFTED_MAX = 300

#: The exact optimum (minimax over every secret), by the solver: 1, 2, 3,
#: 3, 3, 4, 4, 4, 4, 4, 5 for N = 1..11 (fewer cannot do, as the first guess
#: answers only "correct" or not and each later one "correct", "unsure" on
#: one number, or a side: c(d) <= 2 c(d - 1) + 2 numbers in d guesses).
OPTIMUM = _optimal.OPTIMUM

#: Ranges touching the ends of the signed 64-bit integers: N sampled.
WALL_SIZES = [*range(1, 65), 100, 127, 128, 129, 156, 157, 164, 255, 256, 257, 300, 400]

HUGE = 2**64


def contract(n: int) -> int:
    """The promised worst case: ceil(log2 N) + 2 (exact integer arithmetic)."""
    return (n - 1).bit_length() + 2


def goal(n: int) -> int:
    """The IOI full-score bound: floor(log2(3N)) + 1."""
    return (3 * n).bit_length()


def test_bounds_helpers_match_the_formulas() -> None:
    for n in range(1, 5000):
        assert contract(n) == math.ceil(math.log2(n)) + 2
        assert goal(n) == math.floor(math.log2(3 * n)) + 1
    assert contract(HUGE) == 66  # a range of every signed 64-bit integer
    assert contract(HUGE - 1) == 66
    assert goal(HUGE) == 66


# -- playing ----------------------------------------------------------------


def play(lower: int, upper: int, secret: int, limit: int | None = None) -> list[int]:
    """An honest game: every guess reported by the seed's judge. The guesses,
    each checked in range and new; fails past ``limit`` guesses."""
    if limit is None:
        limit = contract(upper - lower + 1)
    strategy = SmartStrategy(lower, upper)
    judge = Judge(secret)
    guesses: list[int] = []
    seen: set[int] = set()
    while True:
        guess = strategy.next_guess()
        assert lower <= guess <= upper, (lower, upper, secret, guesses, guess)
        assert guess not in seen, (lower, upper, secret, guesses, guess)
        guesses.append(guess)
        seen.add(guess)
        decision = judge.judge(guess)
        if decision is Decision.CORRECT:
            return guesses
        assert len(guesses) < limit, f"N={upper - lower + 1} secret={secret}: {guesses}"
        strategy.observe(guess, decision)


def worst_case(lower: int, upper: int, secrets: Iterable[int]) -> int:
    return max(len(play(lower, upper, s)) for s in secrets)


@cache
def games_from_zero() -> dict[int, list[list[int]]]:
    """Every game of every N <= EXHAUSTIVE_MAX over [0, N-1], by N, in the
    order of the secrets."""
    return {n: [play(0, n - 1, s) for s in range(n)] for n in range(1, EXHAUSTIVE_MAX + 1)}


def worst_from_zero(n: int) -> int:
    return max(len(g) for g in games_from_zero()[n])


# -- exhaustive: every N, every secret -------------------------------------


def test_registered_and_default() -> None:
    assert STRATEGIES["smart"] is SmartStrategy
    assert DEFAULT_STRATEGY == "smart"


def test_worst_case_within_the_contract_for_every_n() -> None:
    over = {
        n: worst_from_zero(n)
        for n in range(1, EXHAUSTIVE_MAX + 1)
        if worst_from_zero(n) > contract(n)
    }
    assert over == {}


def test_exact_optimum_for_small_ranges() -> None:
    # Played secret by secret with the judge (the table's own test walks
    # the trees): the first values are the known ones.
    sizes = [n for n in OPTIMUM if n <= EXHAUSTIVE_MAX]
    assert {n: worst_from_zero(n) for n in sizes} == {n: OPTIMUM[n] for n in sizes}
    assert [OPTIMUM[n] for n in range(1, 12)] == [1, 2, 3, 3, 3, 4, 4, 4, 4, 4, 5]


def test_goal_met_for_every_n() -> None:
    misses = {
        n: worst_from_zero(n) for n in range(1, EXHAUSTIVE_MAX + 1) if worst_from_zero(n) > goal(n)
    }
    assert misses == {}


def test_walking_the_tree_plays_the_same_games_as_each_secret() -> None:
    # measure.play_every_secret against playing each secret with the judge.
    for n in (1, 2, 3, 11, 17, 100, 156, EXHAUSTIVE_MAX):
        games = games_from_zero()[n]
        counts = play_every_secret(SmartStrategy(0, n - 1), 0, n - 1)
        assert counts.worst == max(map(len, games))
        assert counts.total == sum(map(len, games))
        assert counts.secrets == n
        assert len(games[counts.worst_secret]) == counts.worst
        assert all(len(g) < counts.worst for g in games[: counts.worst_secret])


class _Repeats(SmartStrategy):
    def next_guess(self) -> int:
        return self.lower


class _Strays(SmartStrategy):
    def next_guess(self) -> int:
        return self.upper + 1


@pytest.mark.parametrize("broken", [_Repeats, _Strays])
def test_walking_the_tree_catches_a_broken_strategy(broken: type[SmartStrategy]) -> None:
    with pytest.raises(AssertionError, match="out of range or repeated"):
        play_every_secret(broken(0, 9), 0, 9)


def hardest_sizes(max_bits: int) -> list[int]:
    """Per goal level k, the N where the goal is tightest: the largest N
    with goal(N) = k (3N just under 2**k) and its neighbours below, and the
    smallest N with a larger contract (N just over a power of two)."""
    out = set()
    for k in range(4, max_bits + 1):
        top = (2**k - 1) // 3
        out |= {top, top - 1, top - 2, 2 ** (k - 2) + 1, 2 ** (k - 2) + 2}
    return sorted(n for n in out if n >= 1)


def test_goal_met_for_the_hardest_sizes_up_to_2_to_the_14() -> None:
    # Every secret, by walking the decision tree (all games at once).
    over = {}
    for n in hardest_sizes(14):
        counts = play_every_secret(SmartStrategy(0, n - 1), 0, n - 1)
        if counts.worst > goal(n):
            over[n] = (counts.worst, counts.worst_secret)
    assert over == {}


def adversary_then_every_secret(lower: int, upper: int, tail: int = 600) -> int:
    """The worst case of a game on a range too large to play every secret:
    the client answers so as to keep as many candidates as it can until at
    most ``tail`` are left, then every one of those is played out."""
    s = SmartStrategy(lower, upper)
    low, high, prev = lower, upper, None
    made: list[int] = []
    while high - low + 1 > tail + len(made):
        guess = s.next_guess()
        made.append(guess)
        decision = Decision.UNSURE
        if prev is not None:
            twice_mid = prev + guess
            below = (low, min(high, (twice_mid - 1) // 2))
            above = (max(low, twice_mid // 2 + 1), high)
            keep_below = below[1] - below[0] >= above[1] - above[0]
            low, high = below if keep_below else above
            decision = Decision.WARMER if keep_below == (guess < prev) else Decision.COLDER
        assert low <= high
        s.observe(guess, decision)
        prev = guess
    left = [x for x in range(low, high + 1) if x not in made]
    return play_every_secret(s, lower, upper, secrets=left, prev=prev, made=made).worst


@pytest.mark.parametrize("where", ["zero", "int64 min", "int64 max"])
def test_goal_met_against_an_adversary_up_to_2_to_the_64(where: str) -> None:
    played_out = max(hardest_sizes(14))  # every secret, in the test above
    for n in [*hardest_sizes(66), HUGE]:
        if n <= played_out or n > HUGE:
            continue
        lower = {"zero": 0, "int64 min": INT64_MIN, "int64 max": INT64_MAX - n + 1}[where]
        assert adversary_then_every_secret(lower, lower + n - 1) <= goal(n), n


def test_never_below_the_information_bound() -> None:
    # A sanity check of the harness: no strategy can beat ceil(log2(N+1))
    # (each guess answers at most "correct" or one of two sides).
    for n in range(1, EXHAUSTIVE_MAX + 1):
        assert worst_from_zero(n) >= math.ceil(math.log2(n + 1))


def test_each_game_ends_on_its_secret() -> None:
    for n in (1, 2, 11, 12, 156, EXHAUSTIVE_MAX):
        games = games_from_zero()[n]
        assert [g[-1] for g in games] == list(range(n))


@pytest.mark.parametrize("offset", [-SHIFTED_MAX // 2, 987_654_321])
def test_shifted_ranges_play_the_same_games(offset: int) -> None:
    # Negative, straddling zero and arbitrary positive lower bounds: the
    # same guesses, shifted, for every N and every secret.
    for n in range(1, SHIFTED_MAX + 1):
        base = games_from_zero()[n]
        for secret in range(n):
            got = play(offset, offset + n - 1, offset + secret)
            assert got == [g + offset for g in base[secret]], (offset, n, secret)


@pytest.mark.parametrize("wall", ["min", "max"])
def test_ranges_touching_the_int64_ends(wall: str) -> None:
    for n in WALL_SIZES:
        lower = INT64_MIN if wall == "min" else INT64_MAX - n + 1
        upper = lower + n - 1
        base = games_from_zero()[n]
        for secret in range(n):
            got = play(lower, upper, lower + secret)
            assert got == [g + lower for g in base[secret]], (lower, upper, secret)


def spread_secrets(lower: int, upper: int, rng: random.Random) -> list[int]:
    """Edges, quarter points, a grid and random secrets of a large range."""
    n = upper - lower + 1
    picks = {lower + k for k in range(min(n, 40))} | {upper - k for k in range(min(n, 40))}
    picks |= {lower + n * k // 64 for k in range(65) if n * k // 64 < n}
    picks |= {lower + rng.randrange(n) for _ in range(200)}
    return sorted(picks)


@pytest.mark.parametrize(
    "lower,upper",
    [
        (INT64_MIN, INT64_MAX),
        (INT64_MIN, INT64_MIN + 2**63 - 1),
        (0, INT64_MAX),
        (INT64_MAX - 10**6 + 1, INT64_MAX),
        (INT64_MIN, INT64_MIN + 10**6 - 1),
        (-(2**40), 2**40),
        (INT64_MIN, INT64_MIN + 2**33),
    ],
)
def test_large_ranges_sampled_secrets_within_the_contract(lower: int, upper: int) -> None:
    rng = random.Random(lower ^ upper)
    n = upper - lower + 1
    assert worst_case(lower, upper, spread_secrets(lower, upper, rng)) <= contract(n)


# -- properties: random ranges anywhere in int64 ---------------------------


@st.composite
def ranges(draw: st.DrawFn, max_width: int = HUGE - 1) -> tuple[int, int]:
    """(lower, upper) anywhere in signed 64-bit, widths of every scale."""
    width = draw(
        st.one_of(
            st.integers(0, min(64, max_width)),
            st.integers(0, min(5000, max_width)),
            st.integers(0, max_width),
            st.builds(
                lambda k, d: min(max(2**k + d, 0), max_width),
                st.integers(1, 63),
                st.integers(-3, 3),
            ),
        )
    )
    lower = draw(st.integers(INT64_MIN, INT64_MAX - width))
    return lower, lower + width


@settings(max_examples=300, deadline=None)
@given(ranges(), st.data())
def test_property_worst_within_contract(bounds: tuple[int, int], data: st.DataObject) -> None:
    lower, upper = bounds
    n = upper - lower + 1
    secrets = data.draw(st.lists(st.integers(lower, upper), min_size=1, max_size=8))
    secrets += [lower, upper, lower + n // 2, lower + n // 3, upper - n // 3]
    assert worst_case(lower, upper, secrets) <= contract(n)


def snapshot(s: SmartStrategy) -> tuple[Any, ...]:
    state = (s.lower, s.upper, s.a, s.b, s.prev, s.reported, frozenset(s.guessed))
    return (*state, s._planned, id(s._frame), s._asked, id(s._node), id(s._plan), s._at)


def expect_no_candidates(s: SmartStrategy) -> None:
    """next_guess raises NO_CANDIDATES, twice, and leaves the state as it was."""
    before = snapshot(s)
    for _ in range(2):
        with pytest.raises(ProtocolError) as info:
            s.next_guess()
        assert info.value.code is ErrorCode.NO_CANDIDATES
        assert snapshot(s) == before


#: A report, or None: the guess is left unreported (NUMBER asked again).
REPORTS = st.sampled_from([Decision.WARMER, Decision.COLDER, Decision.UNSURE, None])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ranges(), st.lists(REPORTS, max_size=120))
def test_property_arbitrary_reports(bounds: tuple[int, int], reports: list[Any]) -> None:
    # Dishonest, contradictory, partial, first report WARMER or COLDER: a
    # guess in range and never repeated, or NO_CANDIDATES (which then
    # repeats and changes nothing); no other exception.
    lower, upper = bounds
    n = upper - lower + 1
    s = SmartStrategy(lower, upper)
    seen: set[int] = set()
    # Small ranges: after the drawn reports, keep reporting COLDER until
    # the strategy runs out; it must within n more guesses.
    tail = [Decision.COLDER] * (n + 1) if n <= 64 else []
    ended = False
    for report in [*reports, *tail]:
        try:
            guess = s.next_guess()
        except ProtocolError as exc:
            assert exc.code is ErrorCode.NO_CANDIDATES
            expect_no_candidates(s)
            ended = True
            break
        assert lower <= guess <= upper
        assert guess not in seen
        seen.add(guess)
        assert s.guessed == seen  # memory: the guesses, nothing more
        if report is not None:
            s.observe(guess, report)
    assert ended or n > 64
    assert len(seen) <= n


@settings(max_examples=300, deadline=None)
@given(ranges(), st.data())
def test_property_unreported_guesses_honest_otherwise(
    bounds: tuple[int, int], data: st.DataObject
) -> None:
    # An honest client that leaves some guesses unreported (never the secret
    # itself): the secret is still found, never NO_CANDIDATES, and each
    # unreported guess costs at most two more guesses (measured on 150,000
    # random games; the contract itself is for clients that report all).
    lower, upper = bounds
    n = upper - lower + 1
    secret = data.draw(st.one_of(st.integers(lower, upper), st.sampled_from([lower, upper])))
    skip = data.draw(st.lists(st.booleans(), max_size=80))
    s = SmartStrategy(lower, upper)
    judge = Judge(secret)
    seen: set[int] = set()
    skipped = 0
    for step in range(10_000):
        guess = s.next_guess()
        assert lower <= guess <= upper and guess not in seen
        seen.add(guess)
        if guess != secret and step < len(skip) and skip[step]:
            skipped += 1
            continue
        decision = judge.judge(guess)
        if decision is Decision.CORRECT:
            break
        s.observe(guess, decision)
    else:
        raise AssertionError("no end")
    assert len(seen) <= contract(n) + 2 * skipped


def test_first_report_carries_no_information() -> None:
    # The first report has nothing to compare with: WARMER, COLDER and
    # UNSURE all lead to the same next guess.
    for lower, upper in [(0, 9), (1, 100), (INT64_MIN, INT64_MAX)]:
        seconds = set()
        for decision in (Decision.WARMER, Decision.COLDER, Decision.UNSURE):
            s = SmartStrategy(lower, upper)
            s.observe(s.next_guess(), decision)
            seconds.add(s.next_guess())
        assert len(seconds) == 1


@pytest.mark.parametrize(
    "lower,upper", [(0, 4), (0, ENDGAME - 1), (0, ENDGAME), (0, 10**6), (INT64_MIN, INT64_MAX)]
)
def test_contradiction_ends_in_no_candidates(lower: int, upper: int) -> None:
    s = SmartStrategy(lower, upper)
    first = s.next_guess()
    s.observe(first, Decision.UNSURE)
    second = s.next_guess()
    # UNSURE puts the secret exactly halfway between the two guesses; after
    # that, a report that excludes the midpoint leaves nothing.
    s.observe(second, Decision.UNSURE)
    third = s.next_guess() if (first + second) % 2 == 0 else None
    if third is not None:
        assert third == (first + second) // 2
        s.observe(third, Decision.COLDER)
    expect_no_candidates(s)


def test_every_number_guessed_then_no_candidates() -> None:
    for n in (1, 2, 5, ENDGAME, ENDGAME + 1, 40):
        s = SmartStrategy(-n, -1)
        guesses = [s.next_guess() for _ in range(n)]  # never reported
        assert sorted(guesses) == list(range(-n, 0))
        expect_no_candidates(s)


def test_a_report_no_secret_gives_leaves_the_plan_for_no_candidates() -> None:
    # On a range played from the table: UNSURE after two guesses whose
    # midpoint is no integer, or on a midpoint outside the range, can come
    # from no secret.
    for n in (2, 7, 40, _optimal.TABLE_MAX):
        s = SmartStrategy(100, 100 + n - 1)
        first = s.next_guess()
        s.observe(first, Decision.UNSURE)
        second = s.next_guess()
        s.observe(second, Decision.UNSURE)
        if (first + second) % 2:
            expect_no_candidates(s)
        else:
            middle = s.next_guess()
            assert middle == (first + second) // 2
            s.observe(middle, Decision.COLDER)
            expect_no_candidates(s)


def test_an_unreported_guess_leaves_the_plan_and_the_game_goes_on() -> None:
    for n in (5, 30, _optimal.TABLE_MAX):
        for secret in (0, n // 3, n - 1):
            s = SmartStrategy(0, n - 1)
            judge = Judge(secret)
            first = s.next_guess()
            if first == secret:
                continue
            again = s.next_guess()  # the first guess was never reported
            assert again != first
            seen = {first, again}
            guess = again
            while True:
                decision = judge.judge(guess)
                if decision is Decision.CORRECT:
                    break
                s.observe(guess, decision)
                guess = s.next_guess()
                assert guess not in seen and 0 <= guess < n
                seen.add(guess)
            assert len(seen) <= contract(n) + 2


def test_plans_are_decoded_once_per_size_and_forgotten() -> None:
    smart.forget()
    for n in (1, 2, 3, _optimal.TABLE_MAX, _optimal.TABLE_MAX + 1):
        SmartStrategy(0, n - 1).next_guess()
        SmartStrategy(5, 5 + n - 1).next_guess()
    # One plan per size of the table, none for larger ranges.
    assert sorted(smart._DECODED) == [1, 2, 3, _optimal.TABLE_MAX]
    smart.forget()
    assert smart._DECODED == {}


# -- costs ------------------------------------------------------------------


def test_cost_on_a_two_to_the_64_range() -> None:
    rng = random.Random(64)
    secrets = [
        INT64_MIN,
        INT64_MAX,
        -1,
        0,
        *(rng.randint(INT64_MIN, INT64_MAX) for _ in range(196)),
    ]
    start = time.perf_counter()
    for secret in secrets:
        s = SmartStrategy(INT64_MIN, INT64_MAX)
        judge = Judge(secret)
        made = 0
        while True:
            guess = s.next_guess()
            made += 1
            decision = judge.judge(guess)
            if decision is Decision.CORRECT:
                break
            s.observe(guess, decision)
        assert made < 70
        assert made <= contract(HUGE)
        # Memory grows with the guesses made, never with the range.
        assert len(s.guessed) == made
    # About 0.3 ms a game (O(1) a guess); generous for a loaded machine.
    assert time.perf_counter() - start < 5.0
    # What all games share stays within its bounds: 200 games of 66 guesses
    # add far more memo nodes than the budget holds.
    assert smart._GAMES.nodes <= smart._GAMES.budget
    assert len(smart._SEARCHED) <= smart._SEARCHED_SIZE


# -- over TCP, both backends -------------------------------------------------

#: The seed's two demo games: (lower, upper, secret), 5 guesses each.
DEMO_GAMES = ((1, 5, 3), (10, 15, 12))


def test_seed_client_wins_the_demo_games(server: Any) -> None:
    srv = server(strategy="smart")
    rounds = 3
    for _ in range(rounds):
        with Client.connect(*srv.address, timeout=5.0) as client:
            for lower, upper, secret in DEMO_GAMES:
                with client.session(lower, upper, secret=secret):
                    guesses = []
                    for number in client.request_numbers(5):
                        guesses.append(number)
                        client.report_outcome(number)
                    assert client.judge is not None and client.judge.found, guesses
                    assert guesses[-1] == secret
                    assert len(guesses) <= OPTIMUM[upper - lower + 1]
    records = srv.wait_for_records(rounds * len(DEMO_GAMES))
    assert len(records) == rounds * len(DEMO_GAMES)
    for record in records:
        assert record.strategy == "smart"
        assert record.outcome is Outcome.WON
        assert record.guess_count <= 5
        assert record.guesses[-1][1] is Decision.CORRECT


# -- the memo of games played ------------------------------------------------


def test_the_memo_replays_the_same_games(monkeypatch: pytest.MonkeyPatch) -> None:
    # Cold, warm, and too small to hold one game (it starts afresh every few
    # nodes): the same guesses; a shifted range replays them shifted.
    n = 300
    memo = smart._Memo(budget=1 << 13)
    monkeypatch.setattr(smart, "_GAMES", memo)
    cold = [play(0, n - 1, secret) for secret in range(n)]
    assert memo.nodes > n
    warm = [play(0, n - 1, secret) for secret in range(n)]
    smart._SEARCHED.clear()
    monkeypatch.setattr(smart, "_GAMES", smart._Memo(budget=3))
    tiny = [play(0, n - 1, secret) for secret in range(n)]
    shifted = [[g - 10**12 for g in play(10**12, 10**12 + n - 1, 10**12 + s)] for s in range(n)]
    assert cold == warm == tiny == shifted


def test_the_memo_follows_unreported_guesses(monkeypatch: pytest.MonkeyPatch) -> None:
    def game() -> list[int]:
        s = SmartStrategy(0, 999)
        judge = Judge(637)
        guesses = []
        for step in range(100):
            guess = s.next_guess()
            guesses.append(guess)
            if step % 3 == 1 and guess != judge.secret:
                continue  # left unreported
            decision = judge.judge(guess)
            if decision is Decision.CORRECT:
                return guesses
            s.observe(guess, decision)
        raise AssertionError(guesses)

    monkeypatch.setattr(smart, "_GAMES", smart._Memo(budget=1 << 13))
    first = game()
    second = game()  # from the memo
    smart._SEARCHED.clear()
    monkeypatch.setattr(smart, "_GAMES", smart._Memo(budget=1 << 13))
    assert first == second == game()
    assert len(first) > contract(1000)  # the unreported guesses did cost


@pytest.mark.parametrize("upper", [99, 999])  # played from the table, and not
def test_fork_is_independent(upper: int) -> None:
    s = SmartStrategy(0, upper)
    first = s.next_guess()
    s.observe(first, Decision.UNSURE)
    twin = s.fork()
    guess = s.next_guess()
    assert twin.next_guess() == guess  # the same state, the same choice
    s.observe(guess, Decision.WARMER)
    twin.observe(guess, Decision.COLDER)
    assert (s.a, s.b) != (twin.a, twin.b)
    assert s.guessed == twin.guessed == {guess, first}
    s.next_guess()
    twin.next_guess()
    assert s.guessed != twin.guessed


def test_games_in_threads_share_the_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    # The threaded server plays games side by side: the memo is shared and
    # may even start afresh under them (a small budget here). A range past
    # the table of optimal plans, which the memo serves.
    n = _optimal.TABLE_MAX + 50
    alone = [play(0, n - 1, secret) for secret in range(n)]
    smart._SEARCHED.clear()
    monkeypatch.setattr(smart, "_GAMES", smart._Memo(budget=500))
    results: dict[int, list[list[int]]] = {}

    def worker(k: int) -> None:
        results[k] = [play(0, n - 1, secret) for secret in range(n)]

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [results[k] for k in range(4)] == [alone] * 4
    assert smart._GAMES.nodes > 0  # the games went through the memo
