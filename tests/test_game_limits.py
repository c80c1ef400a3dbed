"""What one connection can make the core do and hold: turns of bounded work,
the cap on guesses per game, the memory of a full game, the PROXY admission."""

from __future__ import annotations

import gc
import random
import tracemalloc

import pytest

from guessgame.game import TURN_LINES, GameConfig, ServerConnection
from guessgame.protocol import Decision
from guessgame.records import GameRecord, Guesses, Outcome
from guessgame.strategies import STRATEGIES

TOP = 9223372036854775806


def connection(
    strategy: str = "random", **config: object
) -> tuple[ServerConnection, list[GameRecord]]:
    records: list[GameRecord] = []
    conn = ServerConnection(
        GameConfig(strategy=strategy, rng=random.Random(7), **config),  # type: ignore[arg-type]
        peer="192.0.2.1:1",
        on_game_end=records.append,
    )
    return conn, records


def code(reply: bytes) -> str:
    assert reply.startswith(b"ERROR "), reply
    return reply.split()[1].decode()


# -- turns ---------------------------------------------------------------------


def test_a_read_of_many_lines_is_answered_a_turn_at_a_time() -> None:
    conn, _ = connection()
    out = conn.receive_data(b"PARAMS 1 1000\n" + b"NUMBER\n" * 500)
    assert len(out.split()) == TURN_LINES - 1  # PARAMS was the first line of the turn
    assert conn.backlog
    turns = [out]
    while conn.backlog:
        turns.append(conn.receive_data(b""))
        assert len(turns[-1].split()) <= TURN_LINES
    numbers = [int(x) for x in b"".join(turns).split()]
    assert len(numbers) == 500 == len(set(numbers))
    assert len(turns) == -(-501 // TURN_LINES)
    assert conn.lines == 501
    assert conn.receive_data(b"") == b""


def test_turns_answer_as_one_call_does() -> None:
    stream = (b"PARAMS 1 100\nNUMBER\nREPORT Unsure\nFOO\n\n" * 90) + b"NUMBER\nNUMB"
    whole, whole_records = connection()
    reference = whole.receive_all(stream + b"ER\n")
    assert reference.count(b"\n") == 90 * 2 + 2
    turned, turned_records = connection()
    out = [turned.receive_data(stream)]
    # More input while lines wait (a shell that kept reading) joins the queue.
    out.append(turned.receive_data(b"ER\n"))
    while turned.backlog:
        out.append(turned.receive_data(b""))
    assert b"".join(out) == reference
    assert [r.guesses for r in turned_records] == [r.guesses for r in whole_records]


def test_a_flood_of_garbage_costs_one_turn_of_replies_per_call() -> None:
    conn, _ = connection()
    flood = b"x\n" * 100_000
    out = conn.receive_data(flood)
    calls, biggest = 1, len(out)
    while conn.backlog:
        out = conn.receive_data(b"")
        calls += 1
        biggest = max(biggest, len(out))
        assert out.count(b"\n") <= TURN_LINES
    assert calls == 100_000 // TURN_LINES + 1
    assert biggest < TURN_LINES * 128
    assert not conn.closed


def test_an_overlong_line_behind_a_backlog_still_closes() -> None:
    conn, _ = connection()
    out = conn.receive_all(b"NUMBER\n" * 100 + b"Y" * 2000)
    assert out.count(b"ERROR no-game ") == 100
    assert code(out.split(b"\n")[-2]) == "line-too-long"
    assert conn.closed and not conn.backlog


def test_close_drops_the_backlog() -> None:
    conn, _ = connection()
    conn.receive_data(b"NUMBER\n" * 100)
    assert conn.backlog
    conn.close()
    assert not conn.backlog
    assert conn.receive_data(b"") == b""


# -- the cap on guesses ----------------------------------------------------------


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_the_guess_after_the_cap_is_refused_and_changes_nothing(strategy: str) -> None:
    conn, records = connection(strategy, max_guesses=5)
    conn.receive_all(b"PARAMS 1 1000000\n")
    guesses = [int(conn.receive_data(b"NUMBER\n")) for _ in range(5)]
    assert len(set(guesses)) == 5
    state = (conn._pending, bytes(conn._codes), tuple(conn._guesses), repr(conn._strategy))
    reply = conn.receive_data(b"NUMBER\n")
    assert code(reply) == "too-many-guesses"
    assert b"holds 5," in reply
    assert code(conn.receive_data(b"NUMBER\n")) == "too-many-guesses"
    assert (conn._pending, bytes(conn._codes), tuple(conn._guesses), repr(conn._strategy)) == state
    # The last guess can still be reported, once.
    assert conn.receive_data(b"REPORT Unsure\n") == b""
    assert code(conn.receive_data(b"REPORT Unsure\n")) == "no-guess"
    assert code(conn.receive_data(b"NUMBER\n")) == "too-many-guesses"
    # CLEAR ends the game with every guess; a new game may guess again.
    assert conn.receive_data(b"CLEAR\n") == b""
    assert records[-1].guesses == [(g, None) for g in guesses[:-1]] + [
        (guesses[-1], Decision.UNSURE)
    ]
    assert code(conn.receive_data(b"NUMBER\n")) == "no-game"
    conn.receive_data(b"PARAMS 1 1000000\n")
    assert int(conn.receive_data(b"NUMBER\n")) > 0
    conn.receive_data(b"PARAMS 5 9\n")
    assert records[-1].outcome is Outcome.ABANDONED and len(records[-1].guesses) == 1


def test_a_win_on_the_last_guess_allowed_repeats_the_secret() -> None:
    conn, records = connection("smart", max_guesses=3)
    conn.receive_all(b"PARAMS 1 5\n")
    for _ in range(2):
        conn.receive_data(b"NUMBER\n")
    last = int(conn.receive_data(b"NUMBER\n"))
    assert conn.receive_data(b"REPORT Correct\n") == b""
    for _ in range(3):  # a repeat is no new guess
        assert conn.receive_data(b"NUMBER\n") == b"%d\n" % last
    conn.receive_data(b"CLEAR\n")
    assert records[-1].outcome is Outcome.WON and len(records[-1].guesses) == 3


def test_no_candidates_wins_over_the_cap() -> None:
    # Every number of 1..3 guessed: the random guesser has nothing left.
    conn, _ = connection("random", max_guesses=3)
    conn.receive_all(b"PARAMS 1 3\n")
    for _ in range(3):
        conn.receive_data(b"NUMBER\n")
    assert code(conn.receive_data(b"NUMBER\n")) == "no-candidates"
    # Contradictory reports leave the smart guesser nothing either.
    conn, _ = connection("smart", max_guesses=3)
    conn.receive_all(b"PARAMS 1 100\n")
    out = conn.receive_all(b"NUMBER\nREPORT Unsure\nNUMBER\nREPORT Unsure\nNUMBER\n")
    only = int(out.split()[-1])  # the one number equally far from the first two
    conn.receive_all(b"REPORT Colder\n" if only != 1 else b"REPORT Warmer\n")
    assert code(conn.receive_data(b"NUMBER\n")) == "no-candidates"


def test_the_cap_must_be_positive() -> None:
    with pytest.raises(ValueError):
        GameConfig(max_guesses=0)


# -- memory ----------------------------------------------------------------------


def test_a_record_holds_nine_bytes_a_guess() -> None:
    conn, records = connection("random")
    conn.receive_all(b"PARAMS 0 %d\n" % TOP + b"NUMBER\nREPORT Unsure\n" * 300 + b"NUMBER\nCLEAR\n")
    guesses = records[-1].guesses
    assert isinstance(guesses, Guesses) and len(guesses) == 301
    assert len(guesses.values.tobytes()) + len(guesses.codes) == 9 * 301
    assert guesses[0][1] is Decision.UNSURE and guesses[-1][1] is None


#: What a game of --max-guesses 1000 guesses may hold at most: the packed
#: guesses (9 KB) and the strategy's memory of them (a set or a dict of up to
#: 1000 integers, about 110 bytes each at most).
FULL_GAME_BYTES = 128 * 1024


@pytest.mark.parametrize(
    ("strategy", "moves"),
    [
        ("smart", b"NUMBER\n"),  # guesses never reported: the smart guesser's worst
        ("random", b"NUMBER\nREPORT Unsure\n"),
        ("random", b"NUMBER\n"),
    ],
)
def test_a_full_game_holds_a_bounded_amount_and_frees_it(strategy: str, moves: bytes) -> None:
    conn, records = connection(strategy)
    conn.receive_all(b"PARAMS 0 %d\n" % TOP)
    conn.receive_all(moves * 10)  # the smart guesser's memo of this path, made once
    conn.receive_all(b"PARAMS 0 %d\n" % TOP)
    records.clear()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(1200):
            reply = conn.receive_all(moves)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
        assert code(reply) == "too-many-guesses"
        conn.receive_all(b"CLEAR\n")
        assert len(records[-1].guesses) == 1000
        records.clear()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < FULL_GAME_BYTES + _memo_growth(strategy), held
    assert after < 2048 + _memo_growth(strategy), after


def _memo_growth(strategy: str) -> int:
    """The smart guesser remembers the paths of games per range size, for
    every connection at once, up to a fixed number of nodes (bounded apart)."""
    return 400 * 1000 if strategy == "smart" else 0


# -- the PROXY header and the per-address limit ---------------------------------


def test_a_header_over_the_per_address_limit_is_busy_and_closes() -> None:
    seen: list[str | None] = []

    def admit(host: str | None) -> bool:
        seen.append(host)
        return host != "203.0.113.9"

    for host, admitted in (("203.0.113.8", True), ("203.0.113.9", False)):
        conn, _ = connection(proxy_protocol=True)
        conn.admit = admit
        out = conn.receive_data(f"PROXY TCP4 {host} 192.0.2.1 5555 3333\r\nPARAMS 1 1\n".encode())
        if admitted:
            assert out == b"" and not conn.closed
            assert conn.receive_data(b"NUMBER\n") == b"1\n"
        else:
            assert code(out) == "busy" and conn.closed
    assert seen == ["203.0.113.8", "203.0.113.9"]


def test_a_balancer_health_check_is_asked_about_as_itself() -> None:
    seen: list[str | None] = []
    conn, _ = connection(proxy_protocol=True)
    conn.admit = lambda host: seen.append(host) or True
    assert conn.receive_data(b"PROXY UNKNOWN\r\nPARAMS 1 1\nNUMBER\n") == b"1\n"
    assert seen == [None] and conn.from_balancer
