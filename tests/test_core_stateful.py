"""Stateful fuzzing of the sans-I/O core: a model of the protocol drives a
:class:`ServerConnection` with good and bad lines, split reads, unreported
guesses and contradictory reports, over small and 64-bit-wide ranges, with
every strategy, and checks after every step:

- nothing but the bytes of replies comes out (no exception escapes);
- a line answered with ``ERROR`` left the connection's state exactly as it was;
- guesses are within the range and never repeat within a game (after
  ``CORRECT``, ``NUMBER`` repeats the secret);
- an honest client never hears ``no-candidates`` while its secret is unguessed;
- every game that ends produces one record with exactly its guesses.
"""

from __future__ import annotations

import random
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from guessgame.game import GameConfig, ServerConnection
from guessgame.judge import Judge
from guessgame.protocol import DEFAULT_MAX_LINE, INT64_MAX, INT64_MIN, Decision, Lang
from guessgame.records import GameRecord, Outcome
from guessgame.strategies import STRATEGIES

MAX_LINE = DEFAULT_MAX_LINE

#: Every spelling of every decision the server accepts.
DECISION_TOKENS: list[tuple[str, Decision]] = [
    *[(d.token(lang), d) for lang in Lang for d in Decision],
    *[(d.token(Lang.EN).upper(), d) for d in Decision],
    *[(d.token(Lang.EN).lower(), d) for d in Decision],
    ("Same", Decision.UNSURE),
    ("sAmE", Decision.UNSURE),
]

#: Whitespace a client may put between and around tokens.
SPACE = st.sampled_from([" ", "  ", "\t", " \t ", "\x0b", "\x0c", "\u3000"])
EDGE = st.sampled_from(["", "", " ", "\t"])
EOL = st.sampled_from([b"\n", b"\r\n"])

#: Small ranges (exhaustible: no-candidates is reachable) and 64-bit-wide ones.
SMALL_RANGE = st.integers(-5, 5).flatmap(lambda lo: st.tuples(st.just(lo), st.integers(lo, lo + 6)))
WIDE_RANGE = st.tuples(st.integers(INT64_MIN, INT64_MAX), st.integers(INT64_MIN, INT64_MAX)).map(
    sorted
)
EDGE_RANGE = st.sampled_from(
    [(INT64_MIN, INT64_MAX), (INT64_MIN, INT64_MIN + 3), (INT64_MAX - 3, INT64_MAX), (0, 0)]
)
RANGES = st.one_of(SMALL_RANGE, WIDE_RANGE, EDGE_RANGE).map(tuple)

#: Lines the protocol refuses whatever the state, with their code.
NOT_INT = st.sampled_from(["x", "1.5", "0x10", "1e3", "--1", "+", "", "١٢", "½", "1_000"])
OUT_OF_INT64 = st.one_of(
    st.integers(INT64_MAX + 1, 2**70), st.integers(-(2**70), INT64_MIN - 1)
).map(str)


@st.composite
def bad_lines(draw: st.DrawFn) -> tuple[bytes, str]:
    """A line that is an error in every state, and its code."""
    kind = draw(st.integers(0, 7))
    sp = draw(SPACE)
    if kind == 0:
        word = draw(
            st.text(st.characters(blacklist_categories=["Z", "Cc", "Cs"]), min_size=1, max_size=12)
        )
        if word.upper() in ("PARAMS", "NUMBER", "REPORT", "CLEAR"):
            word += "X"
        return f"{word}{sp}1".encode(), "unknown-command"
    if kind == 1:
        args = draw(st.sampled_from([[], ["1"], ["1", "2", "3"]]))
        return sp.join(["PARAMS", *args]).encode(), "bad-params"
    if kind == 2:
        bad = draw(st.one_of(NOT_INT, OUT_OF_INT64))
        good = str(draw(st.integers(INT64_MIN, INT64_MAX)))
        args = [bad, good] if draw(st.booleans()) else [good, bad]
        if bad == "":
            args = [a for a in args if a]
            return sp.join(["PARAMS", *args]).encode(), "bad-params"
        return sp.join(["PARAMS", *args]).encode(), "bad-params"
    if kind == 3:
        word = draw(st.sampled_from(["NUMBER", "CLEAR", "number", "Clear"]))
        return f"{word}{sp}{draw(st.sampled_from(['x', '5', '맞음']))}".encode(), "bad-params"
    if kind == 4:
        extra = draw(st.sampled_from([[], ["맞음", "맞음"], ["Warmer", "x"]]))
        return sp.join(["REPORT", *extra]).encode(), "bad-params"
    if kind == 5:
        token = draw(
            st.sampled_from(["Hot", "cold", "맞", "warm", "correct!", "0", "ＷＡＲＭＥＲ"])
        )
        return f"REPORT{sp}{token}".encode(), "bad-report"
    if kind == 6:
        prefix = draw(st.sampled_from([b"", b"NUMBER ", b"REPORT ", b"PARAMS 1 "]))
        junk = draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xe3\x81", b"\x80abc"]))
        return prefix + junk, "bad-encoding"
    # Raw bytes: invalid UTF-8 or an unknown command, never a valid one.
    raw = draw(st.binary(min_size=1, max_size=64).filter(lambda b: b"\n" not in b))
    try:
        words = raw.decode().split()
    except UnicodeDecodeError:
        return raw, "bad-encoding"
    if not words or words[0].upper() in ("PARAMS", "NUMBER", "REPORT", "CLEAR"):
        return b"\x00" + raw, "unknown-command"
    return raw, "unknown-command"


def chunked(data: bytes, sizes: list[int]) -> list[bytes]:
    """``data`` cut into pieces of the given sizes (the last takes the rest)."""
    pieces, at = [], 0
    for size in sizes:
        if at >= len(data):
            break
        pieces.append(data[at : at + size])
        at += size
    if at < len(data):
        pieces.append(data[at:])
    return pieces


CHUNKS = st.lists(st.integers(1, 9), max_size=6)


def core_state(conn: ServerConnection) -> tuple[object, ...]:
    """Everything a connection and its strategy hold, as comparable values."""
    strategy = conn._strategy
    strategy_state: object = None
    if strategy is not None:
        fields: dict[str, object] = {}
        for name in getattr(type(strategy), "__slots__", ()):
            fields[name] = getattr(strategy, name, None)
        fields.update(getattr(strategy, "__dict__", {}))
        strategy_state = tuple(
            sorted(
                (name, value.getstate() if isinstance(value, random.Random) else repr(value))
                for name, value in fields.items()
            )
        )
    return (
        conn.closed,
        conn._buf,
        conn._pos,
        conn._lower,
        conn._upper,
        conn._pending,
        conn._secret,
        tuple(conn._guesses),
        bytes(conn._codes),
        id(strategy),
        strategy_state,
        conn.config.rng.getstate(),
    )


class Game:
    """The model's view of one game."""

    def __init__(self, lower: int, upper: int, secret: int) -> None:
        self.lower = lower
        self.upper = upper
        self.secret = secret
        self.judge = Judge(secret)
        self.guesses: list[tuple[int, Decision | None]] = []
        self.pending: int | None = None
        self.found: int | None = None
        #: False once the client reported something the judge would not have.
        self.honest = True

    @property
    def size(self) -> int:
        return self.upper - self.lower + 1


class CoreMachine(RuleBasedStateMachine):
    """A model client against one ServerConnection."""

    def __init__(self) -> None:
        super().__init__()
        self.conn: ServerConnection | None = None
        self.records: list[GameRecord] = []
        self.expected_records: list[tuple[int, int, Outcome, tuple[Any, ...]]] = []
        self.game: Game | None = None
        self.closed = False
        self.strategy = ""
        self.max_guesses = 0

    @initialize(
        strategy=st.sampled_from(sorted(STRATEGIES)),
        seed=st.integers(0, 2**32 - 1),
        max_guesses=st.sampled_from([1, 3, 8, 1000]),
    )
    def start(self, strategy: str, seed: int, max_guesses: int) -> None:
        self.strategy = strategy
        self.max_guesses = max_guesses
        self.conn = ServerConnection(
            GameConfig(
                strategy=strategy,
                backend="fuzz",
                max_guesses=max_guesses,
                rng=random.Random(seed),
            ),
            peer="192.0.2.1:1",
            on_game_end=self.records.append,
        )

    # -- feeding ----------------------------------------------------------

    def feed(self, data: bytes, sizes: list[int], strict: bool = True) -> bytes:
        """``data`` in pieces; with ``strict``, a piece without a line end
        must stay unanswered."""
        assert self.conn is not None
        pieces = chunked(data, sizes)
        out = b""
        for piece in pieces:
            reply = self.conn.receive_all(piece)
            assert isinstance(reply, bytes)
            if strict and b"\n" not in piece:
                assert reply == b"", (piece, reply)
            out += reply
        return out

    def send(self, line: bytes, sizes: list[int], eol: bytes = b"\n") -> bytes:
        return self.feed(line + eol, sizes)

    def expect_error(self, line: bytes, code: str, sizes: list[int], eol: bytes = b"\n") -> None:
        assert self.conn is not None
        before = core_state(self.conn)
        records = len(self.records)
        out = self.send(line, sizes, eol)
        assert out.startswith(f"ERROR {code} ".encode()), (line, out)
        assert out.endswith(b"\n") and out.count(b"\n") == 1, out
        assert core_state(self.conn) == before, line
        assert len(self.records) == records

    def end_game(self, outcome: Outcome) -> None:
        game = self.game
        if game is None:
            return
        won = game.found is not None
        self.expected_records.append(
            (game.lower, game.upper, Outcome.WON if won else outcome, tuple(game.guesses))
        )
        self.game = None

    # -- games ------------------------------------------------------------

    @precondition(lambda self: not self.closed)
    @rule(
        bounds=RANGES,
        data=st.data(),
        word=st.sampled_from(["PARAMS", "params", "Params"]),
        sp=SPACE,
        edge=EDGE,
        eol=EOL,
        sizes=CHUNKS,
    )
    def params(
        self,
        bounds: tuple[int, int],
        data: st.DataObject,
        word: str,
        sp: str,
        edge: str,
        eol: bytes,
        sizes: list[int],
    ) -> None:
        lower, upper = bounds
        secret = data.draw(st.integers(lower, upper), label="secret")
        out = self.send(f"{edge}{word}{sp}{lower}{sp}{upper}{edge}".encode(), sizes, eol)
        assert out == b""
        self.end_game(Outcome.ABANDONED)
        self.game = Game(lower, upper, secret)

    @precondition(lambda self: not self.closed)
    @rule(
        line=st.sampled_from(["PARAMS 0 -1", "CLEAR", "clear", " PARAMS 5 -5 ", "PARAMS 1 0"]),
        sizes=CHUNKS,
    )
    def end(self, line: str, sizes: list[int]) -> None:
        assert self.send(line.encode(), sizes) == b""
        self.end_game(Outcome.ABANDONED)

    @precondition(lambda self: not self.closed)
    @rule(word=st.sampled_from(["NUMBER", "NUMBER", "number", " NUMBER\t"]), sizes=CHUNKS)
    def number(self, word: str, sizes: list[int]) -> None:
        game = self.game
        if game is None:
            self.expect_error(word.encode(), "no-game", sizes)
            return
        assert self.conn is not None
        before = core_state(self.conn)
        out = self.send(word.encode(), sizes)
        assert out.endswith(b"\n") and out.count(b"\n") == 1, out
        if out.startswith(b"ERROR no-candidates "):
            assert game.found is None
            assert core_state(self.conn) == before
            guessed = {g for g, _ in game.guesses}
            if game.honest:
                # The secret is always consistent with honest reports: only
                # having guessed it already (unreported) leaves nothing.
                assert game.secret in guessed or len(guessed) == game.size, game.guesses
            return
        if out.startswith(b"ERROR too-many-guesses "):
            # The game stays as it was: the last guess can still be reported.
            assert game.found is None and len(game.guesses) == self.max_guesses, game.guesses
            assert core_state(self.conn) == before
            return
        guess = int(out)
        if game.found is not None:
            assert guess == game.found
        else:
            assert len(game.guesses) < self.max_guesses, game.guesses
            assert game.lower <= guess <= game.upper, (guess, game.lower, game.upper)
            assert guess not in {g for g, _ in game.guesses}, (guess, game.guesses)
            game.guesses.append((guess, None))
        game.pending = guess

    @precondition(lambda self: not self.closed)
    @rule(data=st.data(), sp=SPACE, eol=EOL, sizes=CHUNKS, honest=st.booleans())
    def report(
        self, data: st.DataObject, sp: str, eol: bytes, sizes: list[int], honest: bool
    ) -> None:
        game = self.game
        if game is not None and game.pending is not None and game.found is None and honest:
            decision = game.judge.judge(game.pending)
        else:
            decision = data.draw(st.sampled_from(list(Decision)), label="decision")
        token = data.draw(
            st.sampled_from([t for t, d in DECISION_TOKENS if d is decision]), label="token"
        )
        line = f"REPORT{sp}{token}".encode()
        if game is None:
            self.expect_error(line, "no-game", sizes, eol)
            return
        if game.pending is None:
            self.expect_error(line, "no-guess", sizes, eol)
            return
        assert self.send(line, sizes, eol) == b""
        guess, game.pending = game.pending, None
        if game.found is None:
            if not honest:
                game.honest = False
            game.guesses[-1] = (guess, decision)
            if decision is Decision.CORRECT:
                game.found = guess

    @precondition(lambda self: not self.closed)
    @rule(bad=bad_lines(), eol=EOL, sizes=CHUNKS)
    def bad_line(self, bad: tuple[bytes, str], eol: bytes, sizes: list[int]) -> None:
        line, code = bad
        self.expect_error(line, code, sizes, eol)

    @precondition(lambda self: not self.closed)
    @rule(blank=st.sampled_from([b"", b" ", b"\t \t", b"\r", " \u3000 ".encode()]), sizes=CHUNKS)
    def blank_line(self, blank: bytes, sizes: list[int]) -> None:
        assert self.conn is not None
        before = core_state(self.conn)
        assert self.send(blank, sizes) == b""
        assert core_state(self.conn) == before

    @precondition(lambda self: not self.closed)
    @rule(count=st.one_of(st.integers(2, 40), st.integers(60, 200)), sizes=CHUNKS)
    def pipeline(self, count: int, sizes: list[int]) -> None:
        """Many NUMBER lines in one read (more than a turn's worth, too),
        never reported."""
        game = self.game
        assert self.conn is not None
        out = self.feed(b"NUMBER\n" * count, sizes)
        replies = out.split(b"\n")
        assert replies.pop() == b""
        assert len(replies) == count
        for reply in replies:
            if game is None:
                assert reply.startswith(b"ERROR no-game ")
            elif reply.startswith(b"ERROR no-candidates "):
                assert game.found is None
            elif reply.startswith(b"ERROR too-many-guesses "):
                assert game.found is None and len(game.guesses) == self.max_guesses
            elif game.found is not None:
                assert int(reply) == game.found
                game.pending = game.found
            else:
                guess = int(reply)
                assert len(game.guesses) < self.max_guesses
                assert game.lower <= guess <= game.upper
                assert guess not in {g for g, _ in game.guesses}
                game.guesses.append((guess, None))
                game.pending = guess

    @precondition(lambda self: not self.closed)
    @rule(
        extra=st.integers(1, 3 * MAX_LINE),
        newline=st.booleans(),
        sizes=st.lists(st.integers(1, 2 * MAX_LINE), max_size=3),
    )
    def overlong(self, extra: int, newline: bool, sizes: list[int]) -> None:
        """Too long a line closes the connection (and ends the game as an error)."""
        line = b"NUMBER " + b"9" * (MAX_LINE + extra)
        out = self.feed(line + (b"\n" if newline else b""), sizes, strict=False)
        assert out.startswith(b"ERROR line-too-long "), out
        assert out.endswith(b"\n") and out.count(b"\n") == 1, out
        assert self.conn is not None and self.conn.closed
        self.end_game(Outcome.ERROR)
        self.closed = True

    @precondition(lambda self: not self.closed)
    @rule(filler=st.sampled_from([b"x", b" ", b"\xff"]), cr=st.booleans())
    def longest_line(self, filler: bytes, cr: bool) -> None:
        """A line of exactly the limit is still a line (a final CR is free)."""
        line = b"Z" + filler * (MAX_LINE - 1)
        code = "bad-encoding" if filler == b"\xff" else "unknown-command"
        self.expect_error(line, code, [], b"\r\n" if cr else b"\n")

    @precondition(lambda self: self.closed)
    @rule(data=st.binary(max_size=64))
    def after_close(self, data: bytes) -> None:
        assert self.conn is not None
        assert self.conn.receive_data(data) == b""

    @rule()
    def hang_up(self) -> None:
        """The peer goes away (twice: the core must not mind)."""
        assert self.conn is not None
        self.conn.receive_eof()
        self.conn.receive_eof()
        if not self.closed:
            self.end_game(Outcome.ABANDONED)
        self.closed = True

    # -- what must always hold ----------------------------------------------

    @invariant()
    def records_match(self) -> None:
        got = [(r.lower, r.upper, r.outcome, r.guesses) for r in self.records]
        assert got == self.expected_records
        for record in self.records:
            assert record.strategy == self.strategy
            guesses = [g for g, _ in record.guesses]
            assert len(set(guesses)) == len(guesses)
            assert all(record.lower <= g <= record.upper for g in guesses)

    @invariant()
    def state_agrees(self) -> None:
        if self.conn is None:
            return
        assert self.conn.closed == self.closed
        assert self.conn.has_game == (self.game is not None and not self.closed)


CoreMachine.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
test_core_state_machine = CoreMachine.TestCase
