"""The sans-I/O server core: framing, every command, every error, game records."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guessgame.game import GameConfig, ServerConnection
from guessgame.protocol import DEFAULT_MAX_LINE, INT64_MAX, INT64_MIN, Decision
from guessgame.records import GameRecord, Outcome

SEED = 61


class Harness:
    """A connection with a seeded rng, a counting clock, and hooks that remember."""

    def __init__(self, seed: int = SEED, strategy: str = "random", max_line: int = 0) -> None:
        ticks = itertools.count(1)
        self.records: list[GameRecord] = []
        self.reports: list[tuple[int, Decision]] = []
        self.conn = ServerConnection(
            GameConfig(
                strategy=strategy,
                max_line=max_line or DEFAULT_MAX_LINE,
                backend="test",
                rng=random.Random(seed),
                clock=lambda: float(next(ticks)),
            ),
            peer="192.0.2.1:4242",
            on_report=lambda guess, decision: self.reports.append((guess, decision)),
            on_game_end=self.records.append,
        )

    def line(self, line: str | bytes) -> bytes:
        """Feed one line (terminator added); the reply bytes."""
        if isinstance(line, str):
            line = line.encode()
        return self.conn.receive_data(line + b"\n")

    def lines(self, *lines: str | bytes) -> list[bytes]:
        return [self.line(x) for x in lines]

    def ask(self, line: str) -> str:
        out = self.line(line)
        assert out.endswith(b"\n") and out.count(b"\n") == 1, out
        return out[:-1].decode()

    def number(self) -> int:
        return int(self.ask("NUMBER"))


#: Lines that probe every part of a connection's observable state: whether
#: a guess is pending, the next guesses, whether a secret is known, and the
#: records and reports that result.
PROBE = (
    "REPORT 잘모르겠음",
    "NUMBER",
    "NUMBER",
    "REPORT unsure",
    "REPORT colder",
    "NUMBER",
    "REPORT correct",
    "NUMBER",
    "NUMBER",
    "PARAMS 0 -1",
    "NUMBER",
)


def snapshot(h: Harness) -> tuple[object, ...]:
    """Everything a peer or the store could ever see of ``h`` from now on."""
    outputs = h.lines(*PROBE)
    h.conn.receive_eof()
    return (outputs, h.records, h.reports, h.conn.closed)


def error_code(out: bytes) -> str:
    assert out.startswith(b"ERROR "), out
    assert out.endswith(b"\n") and out.count(b"\n") == 1, out
    code = out.split(b" ")[1].decode()
    assert code == code.lower()
    return code


# -- commands -------------------------------------------------------------


def test_a_whole_game() -> None:
    h = Harness()
    assert h.line("PARAMS 1 5") == b""
    assert h.conn.has_game
    guesses = []
    while True:
        guess = h.number()
        assert 1 <= guess <= 5
        assert guess not in guesses
        guesses.append(guess)
        decision = "맞음" if guess == 3 else "잘모르겠음"
        assert h.line(f"REPORT {decision}") == b""
        if guess == 3:
            break
    assert h.line("PARAMS 0 -1") == b""
    assert not h.conn.has_game
    [record] = h.records
    assert record.outcome is Outcome.WON
    assert (record.lower, record.upper) == (1, 5)
    assert record.strategy == "random"
    assert record.backend == "test"
    assert record.peer == "192.0.2.1:4242"
    assert record.started_at < record.ended_at
    assert [g for g, _ in record.guesses] == guesses
    assert record.guesses[-1] == (3, Decision.CORRECT)
    assert all(d is Decision.UNSURE for _, d in record.guesses[:-1])
    assert record.guess_count == len(guesses)
    assert h.reports == list(record.guesses)


def test_number_stays_in_range_and_never_repeats() -> None:
    h = Harness()
    h.line("PARAMS -10 10")
    seen = {h.number() for _ in range(21)}
    assert seen == set(range(-10, 11))


def test_after_correct_number_repeats_the_secret() -> None:
    h = Harness()
    h.line("PARAMS 1 1000")
    first = h.number()
    h.line("REPORT Correct")
    assert [h.number() for _ in range(3)] == [first] * 3
    # Reports on the repeats are accepted (the seed's client sends them) and
    # passed to the report hook, but the record lists only real guesses.
    assert h.line("REPORT 맞음") == b""
    assert h.number() == first
    h.line("CLEAR")
    [record] = h.records
    assert record.outcome is Outcome.WON
    assert record.guesses == ((first, Decision.CORRECT),)
    assert h.reports == [(first, Decision.CORRECT), (first, Decision.CORRECT)]


def test_unreported_guesses_are_none_and_report_judges_the_latest() -> None:
    h = Harness()
    h.line("PARAMS 1 100")
    a, b = h.number(), h.number()
    assert h.line("REPORT Unsure") == b""
    c = h.number()
    h.line("CLEAR")
    [record] = h.records
    assert record.guesses == ((a, None), (b, Decision.UNSURE), (c, None))
    assert record.outcome is Outcome.ABANDONED
    assert h.reports == [(b, Decision.UNSURE)]


@pytest.mark.parametrize("ending", ["PARAMS 0 -1", "CLEAR", "clear", "PARAMS 5 1", "PARAMS 1 9"])
def test_ending_a_game(ending: str) -> None:
    h = Harness()
    h.line("PARAMS 1 100")
    guess = h.number()
    assert h.line(ending) == b""
    [record] = h.records
    assert record.outcome is Outcome.ABANDONED
    assert record.guesses == ((guess, None),)
    starts_new = ending == "PARAMS 1 9"
    assert h.conn.has_game is starts_new
    if not starts_new:
        assert error_code(h.line("NUMBER")) == "no-game"
        assert error_code(h.line("REPORT Warmer")) == "no-game"


def test_new_params_starts_a_fresh_game() -> None:
    h = Harness()
    h.line("PARAMS 1 3")
    h.number()
    h.line("REPORT correct")
    h.line("PARAMS 7 9")
    # A fresh game: no secret, no pending guess, guesses from the new range.
    assert error_code(h.line("REPORT unsure")) == "no-guess"
    assert {h.number() for _ in range(3)} == {7, 8, 9}
    [record] = h.records
    assert record.outcome is Outcome.WON and (record.lower, record.upper) == (1, 3)


def test_ending_without_a_game_records_nothing() -> None:
    h = Harness()
    assert h.lines("PARAMS 0 -1", "CLEAR", "PARAMS 0 -1") == [b"", b"", b""]
    h.conn.receive_eof()
    assert h.records == []


def test_peer_hanging_up_abandons_the_game() -> None:
    h = Harness()
    h.line("PARAMS 1 10")
    h.number()
    h.conn.receive_eof()
    assert h.conn.closed
    [record] = h.records
    assert record.outcome is Outcome.ABANDONED
    assert h.conn.receive_data(b"NUMBER\n") == b""
    h.conn.receive_eof()
    assert len(h.records) == 1


def test_close_with_error_outcome_and_won_wins() -> None:
    h = Harness()
    h.line("PARAMS 1 10")
    h.number()
    h.conn.close(Outcome.ERROR)
    assert h.records[-1].outcome is Outcome.ERROR

    h = Harness()
    h.line("PARAMS 4 4")
    h.number()
    h.line("REPORT 맞음")
    h.conn.close(Outcome.ERROR)
    assert h.records[-1].outcome is Outcome.WON


def test_report_hook_sees_every_accepted_report() -> None:
    h = Harness()
    h.line("PARAMS 1 100")
    expected = []
    for word, decision in [
        ("잘모르겠음", Decision.UNSURE),
        ("더따뜻함", Decision.WARMER),
        ("더차가움", Decision.COLDER),
        ("same", Decision.UNSURE),
        ("COLDER", Decision.COLDER),
        ("warmer", Decision.WARMER),
    ]:
        guess = h.number()
        assert h.line(f"REPORT {word}") == b""
        expected.append((guess, decision))
    assert h.reports == expected


@pytest.mark.parametrize(
    "word,decision",
    [
        ("더따뜻함", Decision.WARMER),
        ("더차가움", Decision.COLDER),
        ("잘모르겠음", Decision.UNSURE),
        ("맞음", Decision.CORRECT),
        ("Warmer", Decision.WARMER),
        ("warmer", Decision.WARMER),
        ("WARMER", Decision.WARMER),
        ("Colder", Decision.COLDER),
        ("cOLDER", Decision.COLDER),
        ("Unsure", Decision.UNSURE),
        ("unsure", Decision.UNSURE),
        ("Same", Decision.UNSURE),
        ("SAME", Decision.UNSURE),
        ("Correct", Decision.CORRECT),
        ("correct", Decision.CORRECT),
    ],
)
def test_both_vocabularies(word: str, decision: Decision) -> None:
    h = Harness()
    h.line("PARAMS 1 100")
    guess = h.number()
    assert h.line(f"REPORT {word}") == b""
    assert h.reports == [(guess, decision)]
    h.line("CLEAR")
    assert h.records[0].guesses == ((guess, decision),)


@pytest.mark.parametrize(
    "params,number,report,clear",
    [
        ("params 1 1", "number", "report 맞음", "clear"),
        ("Params 1 1", "Number", "Report correct", "Clear"),
        ("pArAmS 1 1", "nUmBeR", "rEpOrT CORRECT", "cLeAr"),
    ],
)
def test_command_words_are_case_insensitive(
    params: str, number: str, report: str, clear: str
) -> None:
    h = Harness()
    assert h.lines(params, number, report, number, clear) == [b"", b"1\n", b"", b"1\n", b""]
    assert h.records[0].outcome is Outcome.WON


@pytest.mark.parametrize(
    "lines",
    [
        ["  PARAMS 2 2", "NUMBER  ", "REPORT 맞음\t", "CLEAR "],
        ["PARAMS\t2\t2", "\tNUMBER", " REPORT   맞음 ", "  CLEAR  "],
        ["PARAMS  \t 2 \t  2", "\t \tNUMBER \t", "REPORT\t\t\tcorrect", "CLEAR"],
        ["\x0bPARAMS 2\x0c2", "NUMBER\x0b", "REPORT \x0cCorrect", "\x0cCLEAR"],
    ],
)
def test_whitespace_runs_and_edges(lines: list[str]) -> None:
    h = Harness()
    assert h.lines(*lines) == [b"", b"2\n", b"", b""]
    assert h.records[0].outcome is Outcome.WON


# -- int64 ------------------------------------------------------------------


@pytest.mark.parametrize(
    "lower,upper",
    [
        (INT64_MIN, INT64_MAX),
        (INT64_MAX, INT64_MAX),
        (INT64_MIN, INT64_MIN),
        (INT64_MAX - 2, INT64_MAX),
        (INT64_MIN, INT64_MIN + 2),
        (-1, 0),
    ],
)
def test_int64_edges_accepted(lower: int, upper: int) -> None:
    h = Harness()
    assert h.line(f"PARAMS {lower} {upper}") == b""
    guesses = [h.number() for _ in range(min(3, upper - lower + 1))]
    assert all(lower <= g <= upper for g in guesses)
    assert len(set(guesses)) == len(guesses)
    if upper - lower < 3:
        assert set(guesses) == set(range(lower, upper + 1))


@pytest.mark.parametrize(
    "params",
    [
        f"PARAMS 0 {INT64_MAX + 1}",
        f"PARAMS {INT64_MIN - 1} 0",
        f"PARAMS {INT64_MAX + 1} {INT64_MAX + 2}",
        f"PARAMS {2**64} {-(2**64)}",
        f"PARAMS {INT64_MIN - 1} {INT64_MAX + 1}",
    ],
)
def test_int64_edges_rejected(params: str) -> None:
    h = Harness()
    assert error_code(h.line(params)) == "bad-params"
    assert not h.conn.has_game


def test_full_int64_range_plays() -> None:
    h = Harness()
    h.line(f"PARAMS {INT64_MIN} {INT64_MAX}")
    guesses = [h.number() for _ in range(200)]
    assert len(set(guesses)) == 200
    assert all(INT64_MIN <= g <= INT64_MAX for g in guesses)
    # Uniform over 2**64 numbers: both signs show up.
    assert min(guesses) < 0 < max(guesses)


def test_params_0_minus_1_ends_the_game() -> None:
    h = Harness()
    h.line("PARAMS 1 5")
    h.number()
    assert h.line("PARAMS 0 -1") == b""
    assert not h.conn.has_game
    assert h.records[0].outcome is Outcome.ABANDONED
    assert error_code(h.line("NUMBER")) == "no-game"


# -- errors -------------------------------------------------------------------

#: Lines that are wrong in every state, with their code.
ALWAYS_BAD: list[tuple[bytes, str]] = [
    (b"FOO", "unknown-command"),
    (b"GUESS 5", "unknown-command"),
    (b"NUMBERS", "unknown-command"),
    (b"PARAM 1 5", "unknown-command"),
    (b"\xeb\x8d\x94", "unknown-command"),  # a Korean word is not a command
    (b"PARAMS", "bad-params"),
    (b"PARAMS 1", "bad-params"),
    (b"PARAMS 1 2 3", "bad-params"),
    (b"PARAMS a b", "bad-params"),
    (b"PARAMS 1 x", "bad-params"),
    (b"PARAMS 1.5 3", "bad-params"),
    (b"PARAMS 0 9223372036854775808", "bad-params"),
    (b"PARAMS -9223372036854775809 0", "bad-params"),
    (b"NUMBER 5", "bad-params"),
    (b"number x", "bad-params"),
    (b"CLEAR x", "bad-params"),
    (b"REPORT", "bad-params"),
    (b"REPORT Warmer Colder", "bad-params"),
    (b"REPORT hot", "bad-report"),
    (b"REPORT \xeb\xa7\x9e", "bad-report"),  # "맞", half of 맞음
    (b"REPORT 1", "bad-report"),
    (b"\xff", "bad-encoding"),
    (b"NUMBER \xfe", "bad-encoding"),
    (b"REPORT \xed\xa0\x80", "bad-encoding"),  # a UTF-8 encoded surrogate
    (b"\xc0\xafNUMBER", "bad-encoding"),  # an overlong encoding
    (b"REPORT \xeb\xa7", "bad-encoding"),  # a character cut short
]

#: Prefixes that put a connection in each of its states.
STATES: dict[str, list[str]] = {
    "fresh": [],
    "game": ["PARAMS 1 100"],
    "pending": ["PARAMS 1 100", "NUMBER"],
    "reported": ["PARAMS 1 100", "NUMBER", "REPORT 잘모르겠음"],
    "two-pending": ["PARAMS 1 100", "NUMBER", "REPORT 잘모르겠음", "NUMBER"],
    "won": ["PARAMS 1 100", "NUMBER", "REPORT 맞음"],
    "won-pending": ["PARAMS 1 100", "NUMBER", "REPORT 맞음", "NUMBER"],
    "ended": ["PARAMS 1 100", "NUMBER", "PARAMS 0 -1"],
}


def assert_error_leaves_state(prefix: list[str], bad: bytes, code: str) -> None:
    """``bad`` after ``prefix`` is answered with one ERROR line of ``code``,
    and the connection then behaves exactly like a twin that never got it."""
    h, twin = Harness(), Harness()
    assert h.lines(*prefix) == twin.lines(*prefix)
    assert error_code(h.line(bad)) == code
    assert not h.conn.closed
    assert snapshot(h) == snapshot(twin)


@pytest.mark.parametrize("state", list(STATES))
@pytest.mark.parametrize("bad,code", ALWAYS_BAD, ids=[repr(b) for b, _ in ALWAYS_BAD])
def test_errors_leave_the_state_unchanged(state: str, bad: bytes, code: str) -> None:
    assert_error_leaves_state(STATES[state], bad, code)


@pytest.mark.parametrize("state", ["fresh", "ended"])
@pytest.mark.parametrize("line", ["NUMBER", "number", "NUMBER ", "REPORT 맞음", "REPORT unsure"])
def test_no_game(state: str, line: str) -> None:
    assert_error_leaves_state(STATES[state], line.encode(), "no-game")


@pytest.mark.parametrize("state", ["game", "reported", "won"])
@pytest.mark.parametrize("line", ["REPORT 잘모르겠음", "REPORT Correct", "report same"])
def test_no_guess(state: str, line: str) -> None:
    assert_error_leaves_state(STATES[state], line.encode(), "no-guess")


def test_no_candidates_when_the_range_is_exhausted() -> None:
    prefix = ["PARAMS 1 3", "NUMBER", "NUMBER", "NUMBER"]
    assert_error_leaves_state(prefix, b"NUMBER", "no-candidates")
    # The latest guess is still the one a REPORT judges.
    h = Harness()
    outs = h.lines(*prefix)
    assert error_code(h.line("NUMBER")) == "no-candidates"
    assert h.line("REPORT 맞음") == b""
    assert h.line("NUMBER") == outs[-1]


def test_the_error_line_names_its_code_and_explains() -> None:
    h = Harness()
    out = h.line("FOO")
    assert out.startswith(b"ERROR unknown-command ")
    assert len(out.split(b" ", 2)[2].strip()) > 5  # a human-readable message


def test_a_long_bad_token_does_not_make_a_long_reply() -> None:
    h = Harness()
    for line in ("X" * 1000, "PARAMS " + "9" * 900 + " 1", "REPORT " + "w" * 1000):
        assert len(h.line(line)) < 300


COMMANDS = st.sampled_from(
    [
        b"PARAMS 1 20",
        b"PARAMS 5 5",
        b"PARAMS 0 -1",
        b"params -3 3",
        b"NUMBER",
        b"NUMBER",
        b"number",
        b"REPORT \xec\x9e\x98\xeb\xaa\xa8\xeb\xa5\xb4\xea\xb2\xa0\xec\x9d\x8c",  # 잘모르겠음
        b"REPORT warmer",
        b"REPORT Colder",
        b"REPORT \xeb\xa7\x9e\xec\x9d\x8c",  # 맞음
        b"REPORT same",
        b"CLEAR",
        b"",
        b"   ",
        *[bad for bad, _ in ALWAYS_BAD[::3]],
    ]
)


@settings(max_examples=150, deadline=None)
@given(st.lists(COMMANDS, max_size=30), st.integers(0, 2**32))
def test_any_error_is_as_if_the_line_was_never_sent(lines: list[bytes], seed: int) -> None:
    """Whatever the history, removing a line answered with ERROR from it
    changes nothing else the peer or the store sees."""

    def play(script: list[bytes]) -> tuple[list[bytes], list[GameRecord], list[object]]:
        h = Harness(seed)
        outs = h.lines(*script)
        h.conn.receive_eof()
        return outs, [_strip_times(r) for r in h.records], list(h.reports)

    outs, records, reports = play(lines)
    for i, out in enumerate(outs):
        if out.startswith(b"ERROR "):
            assert out.count(b"\n") == 1
            others = lines[:i] + lines[i + 1 :]
            outs2, records2, reports2 = play(others)
            assert outs2 == outs[:i] + outs[i + 1 :]
            assert records2 == records
            assert reports2 == reports


def _strip_times(record: GameRecord) -> tuple[object, ...]:
    # The counting clock ticks once per game start and end, not per line.
    return (record.lower, record.upper, record.outcome, record.guesses)


# -- framing ------------------------------------------------------------------

SCRIPT = (
    "PARAMS 1 100\nNUMBER\nREPORT 잘모르겠음\r\nNUMBER\nREPORT 더따뜻함\n\nFOO\n"
    "number\r\nREPORT Colder\n  \nNUMBER\nREPORT 맞음\nNUMBER\nPARAMS 0 -1\nNUMBER\n"
).encode() + b"\xff\xfe\nPARAMS 5 5\nNUMBER\n"


def _reference(script: bytes) -> bytes:
    return Harness().conn.receive_data(script)


def test_script_reference_is_meaningful() -> None:
    out = _reference(SCRIPT).decode().splitlines()
    assert len(out) == 9
    assert [x.split()[1] for x in out if x.startswith("ERROR")] == [
        "unknown-command",
        "no-game",
        "bad-encoding",
    ]
    assert out[-1] == "5"


def test_split_reads_at_every_byte_boundary() -> None:
    ref = _reference(SCRIPT)
    for i in range(len(SCRIPT) + 1):
        h = Harness()
        assert h.conn.receive_data(SCRIPT[:i]) + h.conn.receive_data(SCRIPT[i:]) == ref, i


def test_one_byte_at_a_time() -> None:
    h = Harness()
    out = b"".join(h.conn.receive_data(SCRIPT[i : i + 1]) for i in range(len(SCRIPT)))
    assert out == _reference(SCRIPT)


@given(st.lists(st.integers(0, len(SCRIPT)), max_size=12))
def test_any_partition_of_the_stream(cuts: list[int]) -> None:
    h = Harness()
    bounds = [0, *sorted(cuts), len(SCRIPT)]
    out = b"".join(h.conn.receive_data(SCRIPT[a:b]) for a, b in itertools.pairwise(bounds))
    assert out == _reference(SCRIPT)


def test_crlf_is_the_same_as_lf() -> None:
    lf = b"PARAMS 1 50\nNUMBER\nREPORT Unsure\nNUMBER\nREPORT Warmer\nNUMBER\nFOO\n"
    assert _reference(lf.replace(b"\n", b"\r\n")) == _reference(lf)


def test_only_one_trailing_cr_is_dropped() -> None:
    # "\r" inside a line is whitespace to the tokenizer, so this is still NUMBER.
    h = Harness()
    h.line("PARAMS 9 9")
    assert h.conn.receive_data(b"NUMBER\r\r\n") == b"9\n"
    assert error_code(h.conn.receive_data(b"NUMBER\rX\r\n")) == "bad-params"


@pytest.mark.parametrize("empty", [b"\n", b"\r\n", b"   \n", b"\t\n", b" \t \r\n", b"\n\n\n"])
def test_empty_lines_are_ignored_silently(empty: bytes) -> None:
    for state in STATES.values():
        h, twin = Harness(), Harness()
        h.lines(*state)
        twin.lines(*state)
        assert h.conn.receive_data(empty) == b""
        assert snapshot(h) == snapshot(twin)


def test_many_lines_in_one_read() -> None:
    h = Harness()
    out = h.conn.receive_all(b"PARAMS 1 1000\n" + b"NUMBER\n" * 500)
    numbers = [int(x) for x in out.split()]
    assert len(numbers) == 500 == len(set(numbers))


@pytest.mark.parametrize("terminator", [b"\n", b"\r\n"])
def test_a_line_of_exactly_the_limit_is_accepted(terminator: bytes) -> None:
    h = Harness()
    h.line("PARAMS 3 3")
    line = b" " * (DEFAULT_MAX_LINE - len(b"NUMBER")) + b"NUMBER"
    assert len(line) == DEFAULT_MAX_LINE
    assert h.conn.receive_data(line + terminator) == b"3\n"
    assert not h.conn.closed


def _assert_too_long(h: Harness, out: bytes) -> None:
    assert out.startswith(b"ERROR line-too-long ")
    assert out.endswith(b"\n")
    assert h.conn.closed
    assert h.conn.receive_data(b"NUMBER\n") == b""


def test_a_line_one_byte_over_the_limit_closes() -> None:
    h = Harness()
    h.line("PARAMS 1 10")
    h.number()
    out = h.conn.receive_data(b"X" * (DEFAULT_MAX_LINE + 1) + b"\n")
    _assert_too_long(h, out)
    assert out.count(b"\n") == 1
    [record] = h.records
    assert record.outcome is Outcome.ERROR


def test_a_line_over_the_limit_with_cr_closes() -> None:
    h = Harness()
    out = h.conn.receive_data(b"X" * (DEFAULT_MAX_LINE + 1) + b"\r\n")
    _assert_too_long(h, out)


def test_an_overlong_partial_line_closes_before_its_newline() -> None:
    h = Harness()
    h.line("PARAMS 1 10")
    # Limit + 1 bytes could still be a full line plus its "\r": wait.
    assert h.conn.receive_data(b"X" * (DEFAULT_MAX_LINE + 1)) == b""
    assert not h.conn.closed
    # One more byte and it cannot be a legal line any more.
    _assert_too_long(h, h.conn.receive_data(b"X"))
    assert h.records[0].outcome is Outcome.ERROR


def test_an_endless_line_in_small_pieces_closes() -> None:
    h = Harness()
    for _ in range(DEFAULT_MAX_LINE):
        out = h.conn.receive_data(b"ab")
        if out:
            break
    _assert_too_long(h, out)


def test_an_overlong_partial_line_after_good_lines() -> None:
    h = Harness()
    out = h.conn.receive_data(b"PARAMS 4 4\nNUMBER\n" + b"Y" * (DEFAULT_MAX_LINE + 2))
    assert out.startswith(b"4\nERROR line-too-long ")
    assert h.conn.closed


def test_lines_after_an_overlong_line_are_not_answered() -> None:
    h = Harness()
    out = h.conn.receive_data(b"PARAMS 4 4\n" + b"Z" * 2000 + b"\nNUMBER\nNUMBER\n")
    assert out.startswith(b"ERROR line-too-long ")
    assert out.count(b"\n") == 1


def test_limit_is_configurable() -> None:
    h = Harness(max_line=32)
    assert h.line(" " * 26 + "NUMBER").startswith(b"ERROR no-game")
    _assert_too_long(h, h.line(" " * 27 + "NUMBER"))


def test_a_params_line_seen_elsewhere_still_obeys_this_limit() -> None:
    # Another connection, with the default limit, plays (and so remembers)
    # a PARAMS line longer than this one's limit: it is still too long here,
    # fed whole as in pieces.
    line = b"PARAMS 0 -09223372036854775808"
    assert Harness().line(line) == b""
    for pieces in ([line + b"\n"], [line[:10], line[10:] + b"\n"]):
        h = Harness(max_line=16)
        out = b"".join(h.conn.receive_data(p) for p in pieces)
        _assert_too_long(h, out)


def test_a_limit_below_16_is_refused() -> None:
    with pytest.raises(ValueError):
        GameConfig(max_line=15)
    with pytest.raises(ValueError):
        GameConfig(strategy="psychic")


@pytest.mark.parametrize("state", list(STATES))
def test_bad_encoding_keeps_the_connection_usable(state: str) -> None:
    assert_error_leaves_state(STATES[state], b"\x80\x81\x82", "bad-encoding")


def test_korean_split_inside_a_character() -> None:
    line = "REPORT 잘모르겠음\n".encode()
    for i in range(len(line) + 1):
        h = Harness()
        h.lines("PARAMS 1 9", "NUMBER")
        assert h.conn.receive_data(line[:i]) + h.conn.receive_data(line[i:]) == b""
        assert h.reports[0][1] is Decision.UNSURE


@pytest.mark.parametrize("strategy", ["random", "smart"])
def test_every_strategy_plays_through_the_core(strategy: str) -> None:
    h = Harness(strategy=strategy)
    h.line("PARAMS 1 8")
    seen = []
    for _ in range(8):
        guess = h.number()
        assert 1 <= guess <= 8 and guess not in seen
        seen.append(guess)
        if guess == 6:
            h.line("REPORT 맞음")
            break
        # Honest reports for secret 6, so every strategy can go on.
        h.line(f"REPORT {_honest(seen, 6)}")
    assert seen[-1] == 6
    assert h.number() == 6


def _honest(reported: list[int], secret: int) -> str:
    dist = abs(reported[-1] - secret)
    if len(reported) == 1:
        return "Unsure"
    last = abs(reported[-2] - secret)
    return "Unsure" if dist == last else "Warmer" if dist < last else "Colder"


# -- reads seen before ------------------------------------------------------

#: Reads a client sends again and again, errors and ends of games among
#: them, each answered as its lines would be one at a time.
REPEATED_READS = (
    b"PARAMS 1 100\nNUMBER\n",
    b"REPORT Unsure\nNUMBER\n",
    "REPORT 맞음\nPARAMS 0 -1\nPARAMS 1 100\nNUMBER\n".encode(),
    b"NUMBER\nNUMBER\nREPORT Warmer\n",  # an unreported guess
    b"PARAMS 0 -1\nNUMBER\nREPORT Colder\n",  # no-game twice
    b"PARAMS 7 7\r\nNUMBER\r\n",
)


def test_a_read_seen_before_is_answered_as_its_lines_one_at_a_time() -> None:
    from guessgame import game

    game._PLANS.clear()
    whole, by_line = Harness(), Harness()
    for _ in range(3):  # the first time recorded, then from the plan
        for read in REPEATED_READS:
            lines = [line + b"\n" for line in read.split(b"\n")[:-1]]
            expected = b"".join(by_line.conn.receive_data(line) for line in lines)
            assert whole.conn.receive_data(read) == expected, read
            assert whole.conn.lines == by_line.conn.lines
    # Reads of NUMBER, REPORT and PARAMS lines are planned, those that meet
    # an error included; "\r" lines and REPORT+NUMBER (a faster path) not.
    assert {REPEATED_READS[i] for i in (0, 2, 3, 4)} <= set(game._PLANS)
    assert snapshot(whole) == snapshot(by_line)


def test_a_read_planned_on_one_connection_obeys_the_line_limit_of_another() -> None:
    from guessgame import game

    read = b"PARAMS 1000000 2000000\nNUMBER\n"  # a 22-byte line
    roomy = Harness()
    roomy.conn.receive_data(read)
    assert int(roomy.conn.receive_data(read)) in range(1_000_000, 2_000_001)
    assert read in game._PLANS
    tight = Harness(max_line=16)
    assert error_code(tight.conn.receive_data(read)) == "line-too-long"
    assert tight.conn.closed


def test_a_read_seen_before_is_answered_from_its_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    from guessgame import game

    game._PLANS.clear()
    planned: list[int] = []
    run_plan = game.ServerConnection._run_plan

    def counting(self: game.ServerConnection, steps: tuple[object, ...]) -> bytes:
        planned.append(len(steps))
        return run_plan(self, steps)

    monkeypatch.setattr(game.ServerConnection, "_run_plan", counting)
    h = Harness()
    read = "REPORT 맞음\nPARAMS 0 -1\nPARAMS 1 100\nNUMBER\n".encode()
    h.conn.receive_data(b"PARAMS 1 100\nNUMBER\n")
    h.conn.receive_data(read)  # the first time: split, and remembered
    assert planned == []
    assert int(h.conn.receive_data(read)) in range(1, 101)  # then from its plan
    assert planned == [4]


def test_the_plans_are_bounded() -> None:
    from guessgame import game

    h = Harness()
    for i in range(3 * game._PLANS_MAX):
        h.conn.receive_data(b"PARAMS 1 %d\nNUMBER\n" % (i + 10))
        assert len(game._PLANS) <= game._PLANS_MAX


def test_reads_with_other_lines_are_not_planned() -> None:
    from guessgame import game

    game._PLANS.clear()
    h = Harness()
    for read in (b"PARAMS 1 9\nCLEAR\n", b"PARAMS 1 x\nNUMBER\n", b"\nNUMBER\n", b"NUMBER\nNUM"):
        h.conn.receive_data(read)
        assert read not in game._PLANS, read


# -- message framing (the WebSocket of SPEC section 6) -------------------------


def test_a_message_is_one_line() -> None:
    h = Harness(strategy="smart")
    assert h.conn.receive_message("PARAMS 1 3") == b""
    assert h.conn.receive_message("NUMBER") == b"2\n"  # smart opens at the middle of 1..3
    assert h.conn.receive_message("REPORT Unsure\r") == b""  # a final \r, as on TCP
    assert h.conn.receive_message("") == b""  # an empty line: ignored
    assert h.conn.receive_message("NUMBER").rstrip(b"\n").isdigit()


@pytest.mark.parametrize(
    "message", [b"NUMBER", "NUMBER\n", "PARAMS 1 5\nNUMBER", "\n", "REPORT \ud800"]
)
def test_a_message_that_is_not_one_line_of_text_changes_nothing(message: str | bytes) -> None:
    h = Harness()
    h.line("PARAMS 1 5")
    guess = h.number()
    lines = h.conn.lines
    reply = h.conn.receive_message(message)
    assert reply.startswith(b"ERROR bad-encoding ") and reply.count(b"\n") == 1
    assert not h.conn.closed
    # A line received, as a line that is not UTF-8 on TCP: the peer is not idle.
    assert h.conn.lines == lines + 1
    # The guess is still the pending one: a report is accepted, once.
    assert h.conn.receive_message("REPORT Correct") == b""
    assert h.conn.receive_message("NUMBER") == b"%d\n" % guess


def test_a_message_over_the_line_limit_closes() -> None:
    h = Harness(max_line=16)
    assert h.conn.receive_message("PARAMS 1 2      ") == b""  # 16 bytes
    reply = h.conn.receive_message("PARAMS 1 2       ")  # 17
    assert reply.startswith(b"ERROR line-too-long ")
    assert h.conn.closed
    assert h.conn.receive_message("NUMBER") == b""
    assert [r.outcome for r in h.records] == [Outcome.ERROR]


def test_the_core_fills_every_field_of_a_game_record() -> None:
    """The core builds records by tuple.__new__, field by field in order: a
    field added to GameRecord must be added there too."""
    h = Harness()
    h.line("PARAMS 1 5")
    h.number()
    h.line("PARAMS 0 -1")
    [record] = h.records
    assert type(record) is GameRecord and len(record) == len(GameRecord._fields)
    assert record._asdict()["outcome"] is Outcome.ABANDONED
