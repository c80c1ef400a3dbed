"""The client's sans-I/O side: the Judge and the parsing of replies."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guessgame.judge import (
    BadReply,
    Judge,
    ServerError,
    params_line,
    parse_number_reply,
    report_line,
)
from guessgame.protocol import Decision, ErrorCode, Lang


class SeedJudge:
    """The seed's ``Client.report_outcome``, verbatim in its logic."""

    def __init__(self, secret: int) -> None:
        self.secret = secret
        self.last_distance: float | None = None

    def judge(self, number: int) -> Decision:
        new_distance = math.fabs(number - self.secret)
        decision = Decision.UNSURE
        if new_distance == 0:
            decision = Decision.CORRECT
        elif self.last_distance is None:
            pass
        elif new_distance < self.last_distance:
            decision = Decision.WARMER
        elif new_distance > self.last_distance:
            decision = Decision.COLDER
        self.last_distance = new_distance
        return decision


def test_first_guess_is_unsure() -> None:
    assert Judge(10).judge(3) is Decision.UNSURE
    assert Judge(10).judge(17) is Decision.UNSURE


def test_first_guess_can_be_correct() -> None:
    j = Judge(10)
    assert not j.found
    assert j.judge(10) is Decision.CORRECT
    assert j.found


def test_closer_farther_same_zero() -> None:
    j = Judge(10)
    assert [j.judge(g) for g in (1, 5, 3, 17, 13, 7, 12, 8, 10)] == [
        Decision.UNSURE,  # first: nothing to compare with
        Decision.WARMER,  # 9 -> 5
        Decision.COLDER,  # 5 -> 7
        Decision.UNSURE,  # 7 -> 7, from the other side
        Decision.WARMER,  # 7 -> 3
        Decision.UNSURE,  # 3 -> 3
        Decision.WARMER,  # 3 -> 2
        Decision.UNSURE,  # 2 -> 2
        Decision.CORRECT,
    ]
    assert j.found


def test_the_seed_transcript() -> None:
    # The seed's second game: 10..15, secret 12.
    j = Judge(12)
    assert [j.judge(g) for g in (15, 14, 13, 12)] == [
        Decision.UNSURE,
        Decision.WARMER,
        Decision.WARMER,
        Decision.CORRECT,
    ]


def test_found_follows_the_latest_judgement() -> None:
    j = Judge(5)
    j.judge(5)
    assert j.found
    j.judge(6)
    assert not j.found


def test_int64_extremes_are_exact() -> None:
    # Floats (the seed's math.fabs) cannot tell these distances apart; ints can.
    j = Judge(2**63 - 1)
    assert j.judge(-(2**63)) is Decision.UNSURE
    assert j.judge(-(2**63) + 1) is Decision.WARMER
    assert j.judge(-(2**63)) is Decision.COLDER
    assert j.judge(2**63 - 2) is Decision.WARMER
    assert j.judge(2**63 - 1) is Decision.CORRECT


@given(st.integers(-(2**50), 2**50), st.lists(st.integers(-(2**50), 2**50), max_size=40))
def test_exactly_as_the_seed_client(secret: int, guesses: list[int]) -> None:
    ours, seed = Judge(secret), SeedJudge(secret)
    for g in guesses:
        assert ours.judge(g) is seed.judge(g)
        assert ours.found == (seed.last_distance == 0)


@pytest.mark.parametrize("line", [b"42", b"42\n", b"42\r\n", "42", b"  42 ", b"+42"])
def test_parse_number_reply(line: bytes | str) -> None:
    assert parse_number_reply(line) == 42


@pytest.mark.parametrize("value", [0, -1, 2**63 - 1, -(2**63)])
def test_parse_number_reply_edges(value: int) -> None:
    assert parse_number_reply(str(value).encode()) == value


def test_parse_error_reply() -> None:
    with pytest.raises(ServerError) as info:
        parse_number_reply(b"ERROR no-game no game in progress; send PARAMS first")
    assert info.value.code == "no-game"
    assert info.value.message == "no game in progress; send PARAMS first"
    assert info.value.error_code is ErrorCode.NO_GAME


def test_parse_error_reply_with_an_unknown_code() -> None:
    with pytest.raises(ServerError) as info:
        parse_number_reply("ERROR over-quota try later")
    assert info.value.code == "over-quota"
    assert info.value.error_code is None


@pytest.mark.parametrize("line", [b"", b"forty-two", b"4 2", b"42.0", b"\xff\xfe", b"OK"])
def test_parse_bad_replies(line: bytes) -> None:
    with pytest.raises(BadReply):
        parse_number_reply(line)


def test_request_lines() -> None:
    assert params_line(1, 5) == b"PARAMS 1 5\n"
    assert params_line(-(2**63), 2**63 - 1) == b"PARAMS -9223372036854775808 9223372036854775807\n"
    assert params_line(0, -1) == b"PARAMS 0 -1\n"
    assert report_line(Decision.CORRECT) == "REPORT 맞음\n".encode()
    assert report_line(Decision.WARMER, Lang.KO) == "REPORT 더따뜻함\n".encode()
    assert report_line(Decision.COLDER, Lang.EN) == b"REPORT Colder\n"
    assert report_line(Decision.UNSURE, Lang.EN) == b"REPORT Unsure\n"
