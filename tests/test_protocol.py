"""The pure pieces of the wire protocol: decisions, error codes, integers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guessgame.protocol import (
    DEFAULT_MAX_LINE,
    INT64_MAX,
    INT64_MIN,
    Decision,
    ErrorCode,
    Lang,
    ProtocolError,
    format_error,
    parse_decision,
    parse_int64,
)

KOREAN = {
    Decision.WARMER: "더따뜻함",
    Decision.COLDER: "더차가움",
    Decision.UNSURE: "잘모르겠음",
    Decision.CORRECT: "맞음",
}
ENGLISH = {
    Decision.WARMER: "Warmer",
    Decision.COLDER: "Colder",
    Decision.UNSURE: "Unsure",
    Decision.CORRECT: "Correct",
}


def test_int64_bounds() -> None:
    assert INT64_MIN == -(2**63)
    assert INT64_MAX == 2**63 - 1
    assert DEFAULT_MAX_LINE == 1024


@pytest.mark.parametrize("decision", list(Decision))
def test_tokens_of_both_vocabularies(decision: Decision) -> None:
    assert decision.token() == KOREAN[decision]  # Korean is the default, as in the seed
    assert decision.token(Lang.KO) == KOREAN[decision]
    assert decision.token(Lang.EN) == ENGLISH[decision]


@pytest.mark.parametrize("decision", list(Decision))
def test_parse_decision_round_trips(decision: Decision) -> None:
    for lang in Lang:
        assert parse_decision(decision.token(lang)) is decision


@pytest.mark.parametrize(
    "token,decision",
    [
        ("warmer", Decision.WARMER),
        ("WARMER", Decision.WARMER),
        ("wArMeR", Decision.WARMER),
        ("colder", Decision.COLDER),
        ("COLDER", Decision.COLDER),
        ("unsure", Decision.UNSURE),
        ("UNSURE", Decision.UNSURE),
        ("correct", Decision.CORRECT),
        ("CoRrEcT", Decision.CORRECT),
        ("Same", Decision.UNSURE),
        ("same", Decision.UNSURE),
        ("SAME", Decision.UNSURE),
    ],
)
def test_english_is_case_insensitive(token: str, decision: Decision) -> None:
    assert parse_decision(token) is decision


@pytest.mark.parametrize(
    "token",
    [
        "",
        "warm",
        "Warmerr",
        "hot",
        "cold",
        "yes",
        "따뜻함",
        "맞",
        "맞음!",
        "CORRECT.",
        "1",
        "same ",
    ],
)
def test_unknown_decisions(token: str) -> None:
    assert parse_decision(token) is None


SPEC_CODES = {
    "unknown-command",
    "bad-params",
    "no-game",
    "no-guess",
    "bad-report",
    "no-candidates",
    "bad-encoding",
    "line-too-long",
    "busy",
}


def test_error_codes_are_the_spec_table() -> None:
    assert {c.value for c in ErrorCode} >= SPEC_CODES
    for code in ErrorCode:
        assert code.value == code.value.lower()
        assert " " not in code.value
    # The spec's table: exactly these two of its codes close the connection.
    spec_codes = {c for c in ErrorCode if c.value in SPEC_CODES}
    assert {c for c in spec_codes if c.closes} == {ErrorCode.LINE_TOO_LONG, ErrorCode.BUSY}


def test_format_error() -> None:
    assert format_error(ErrorCode.NO_GAME, "send PARAMS first") == (
        b"ERROR no-game send PARAMS first\n"
    )
    exc = ProtocolError(ErrorCode.BAD_PARAMS, "usage: NUMBER")
    assert exc.code is ErrorCode.BAD_PARAMS
    assert exc.message == "usage: NUMBER"
    assert exc.line() == b"ERROR bad-params usage: NUMBER\n"


@pytest.mark.parametrize(
    "text,value",
    [
        ("0", 0),
        ("-0", 0),
        ("+7", 7),
        ("007", 7),
        ("-5", -5),
        (str(INT64_MAX), INT64_MAX),
        (str(INT64_MIN), INT64_MIN),
        ("0" * 300 + "1", 1),
    ],
)
def test_parse_int64_accepts(text: str, value: int) -> None:
    assert parse_int64(text, "lower") == value


@pytest.mark.parametrize(
    "text",
    [
        str(INT64_MAX + 1),
        str(INT64_MIN - 1),
        str(2**64),
        "9" * 400,
        "",
        "-",
        "+",
        "1.0",
        "1e3",
        "0x10",
        "1_000",
        "٣",  # a non-ASCII digit, which int() would take
        "12a",
        " 1",
        "1\n",
        "--1",
    ],
)
def test_parse_int64_rejects(text: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_int64(text, "upper")
    assert info.value.code is ErrorCode.BAD_PARAMS
    assert "upper" in info.value.message


@given(st.integers())
def test_parse_int64_property(value: int) -> None:
    if INT64_MIN <= value <= INT64_MAX:
        assert parse_int64(str(value), "x") == value
    else:
        with pytest.raises(ProtocolError):
            parse_int64(str(value), "x")
