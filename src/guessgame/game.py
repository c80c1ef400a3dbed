"""The server side of one connection, sans-I/O: bytes in, bytes out.

:class:`ServerConnection` is the whole server: a shell hands it what the
socket produced (:meth:`~ServerConnection.receive_data`), writes back what it
returns, and closes the socket when :attr:`~ServerConnection.closed` says so.
Framing, parsing, the game's state machine and the strategy all live here,
so every shell answers the same bytes with the same bytes.

State machine (one game at a time per connection)::

    idle   --PARAMS l<=u-->  playing          (starts a game)
    any    --PARAMS l>u / CLEAR-->  idle      (ends the current game, if any)
    playing  --NUMBER-->  playing, guess pending a report
    pending  --REPORT d-->  playing (d = CORRECT: won, NUMBER repeats the secret)

Every handler validates first and changes state last, so a line answered
with ``ERROR`` leaves the connection exactly as it was.
"""

from __future__ import annotations

import random
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field

from .protocol import (
    DEFAULT_MAX_GUESSES,
    DEFAULT_MAX_LINE,
    MIN_MAX_LINE,
    Decision,
    ErrorCode,
    ProtocolError,
    decision_words,
    format_error,
    parse_decision,
    parse_int64,
)
from .proxy import ProxyHeaderError, ProxyHeaderParser
from .records import DECISION_CODES, GameRecord, Guesses, Outcome, format_peer
from .strategies import DEFAULT_STRATEGY, STRATEGIES, Strategy, StrategyFactory

__all__ = [
    "TURN_LINES",
    "AdmitHook",
    "ErrorHook",
    "GameConfig",
    "GameEndHook",
    "ReportHook",
    "ServerConnection",
]

#: Called for every accepted report: ``hook(guess, decision)``.
ReportHook = Callable[[int, Decision], None]
#: Called once for every game that ends, with its record.
GameEndHook = Callable[[GameRecord], None]
#: Called for every ERROR reply, with its code.
ErrorHook = Callable[[ErrorCode], None]
#: Called once a PROXY header named the client (``host``, or None for the
#: balancer's own connection); False refuses the connection (``ERROR busy``).
AdmitHook = Callable[[str | None], bool]

#: Complete lines one :meth:`ServerConnection.receive_data` call handles at
#: most; the rest wait for the next call (:attr:`ServerConnection.backlog`).
#: A turn is then at most about 0.2 ms of work and 30 KB of replies, however
#: much one read brought in (a 256 KB read of two-byte garbage lines is
#: 130,000 ERROR replies), so a shell serves every other connection between
#: two turns of a flooding one. A client playing sends one or two lines at
#: a time and never waits for a second turn.
TURN_LINES = 64

_shared_rng = random.Random()
_DECISION_WORDS = decision_words()


@dataclass(frozen=True, slots=True)
class GameConfig:
    """How a server plays: strategy, limits, and the sources of chance and time."""

    strategy: str = DEFAULT_STRATEGY
    max_line: int = DEFAULT_MAX_LINE
    #: Most guesses one game holds; NUMBER beyond is ``too-many-guesses``.
    max_guesses: int = DEFAULT_MAX_GUESSES
    backend: str = ""
    #: Expect a PROXY protocol header (v1 or v2) first on every connection.
    proxy_protocol: bool = False
    rng: random.Random = field(default=_shared_rng, compare=False, repr=False)
    clock: Callable[[], float] = field(default=time.time, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {self.strategy!r}")
        if self.max_line < MIN_MAX_LINE:
            raise ValueError(f"max_line must be at least {MIN_MAX_LINE} bytes")
        if self.max_guesses < 1:
            raise ValueError("max_guesses must be at least 1")

    @property
    def factory(self) -> StrategyFactory:
        return STRATEGIES[self.strategy]


class ServerConnection:
    """Protocol and game state of one client connection."""

    __slots__ = (
        "config",
        "peer",
        "on_report",
        "on_game_end",
        "on_game_start",
        "on_error",
        "admit",
        "closed",
        "from_balancer",
        "lines",
        "backlog",
        "_buf",
        "_pos",
        "_proxy",
        "_factory",
        "_max_line",
        "_max_guesses",
        "_strategy",
        "_lower",
        "_upper",
        "_pending",
        "_secret",
        "_guesses",
        "_codes",
        "_started",
    )

    def __init__(
        self,
        config: GameConfig,
        peer: str = "",
        on_report: ReportHook | None = None,
        on_game_end: GameEndHook | None = None,
        on_game_start: Callable[[], None] | None = None,
        on_error: ErrorHook | None = None,
        admit: AdmitHook | None = None,
    ) -> None:
        self.config = config
        self.peer = peer
        self.on_report = on_report
        self.on_game_end = on_game_end
        self.on_game_start = on_game_start
        self.on_error = on_error
        #: Asked once the PROXY header named the client (per-address limits).
        self.admit = admit
        #: True once the server decided to close (a framing error or
        #: :meth:`close`): the shell sends what it got and closes.
        self.closed = False
        #: True when a PROXY LOCAL/UNKNOWN header said the load balancer opened
        #: this connection for itself (a health check).
        self.from_balancer = False
        #: Complete lines received so far (shells watch it for idleness).
        self.lines = 0
        #: Whether complete lines wait for another turn: the shell calls
        #: :meth:`receive_data` again (with ``b""`` or more input) once it
        #: has served its other connections, and reads nothing more
        #: meanwhile. (An attribute, not a property: shells read it after
        #: every read, and a property is a call into Python code.)
        self.backlog = False
        #: Input not handled yet; from ``_pos`` on while there is a backlog.
        self._buf = b""
        self._pos = 0
        self._proxy = ProxyHeaderParser() if config.proxy_protocol else None
        self._factory = config.factory
        self._max_line = config.max_line
        self._max_guesses = config.max_guesses
        self._strategy: Strategy | None = None
        self._lower = 0
        self._upper = -1
        self._pending: int | None = None
        self._secret: int | None = None
        # The game's guesses and a decision code for each (0: not reported):
        # nine bytes a guess, handed over whole to the game's record.
        self._guesses: array[int] = array("q")
        self._codes = bytearray()
        self._started = 0.0

    # -- what the shell sees ------------------------------------------------

    @property
    def has_game(self) -> bool:
        """Whether a game is in progress."""
        return self._strategy is not None

    def receive_data(self, data: bytes) -> bytes:
        """Feed bytes from the peer; returns the bytes to send back (maybe empty).

        Handles at most :data:`TURN_LINES` complete lines; see :attr:`backlog`.
        """
        if self.closed:
            return b""
        if not self._buf and self._strategy is not None:
            # The hot path: a read that is exactly what a playing client
            # sends for a round trip skips splitting, decoding and dispatch.
            if data == b"NUMBER\n":
                self.lines += 1
                return self._number_or_error()
            decision = _REPORT_THEN_NUMBER.get(data)
            if decision is not None and self._pending is not None:
                self.lines += 2
                self._report(decision)
                try:
                    return self._number()
                except ProtocolError as exc:
                    return self._error(exc.code, exc.message)
        plannable = not self._buf and self._proxy is None
        if plannable and len(data) <= _PLAN_BYTES:  # no hashing of longer reads
            plan = _PLANS.get(data)
            if plan is not None and plan[0] <= self._max_line:
                return self._run_plan(plan[1])
        if self._proxy is not None:
            try:
                data = self._take_proxy_header(data)
            except ProxyHeaderError as exc:
                self.close(Outcome.ERROR)
                return self._error(ErrorCode.BAD_PROXY_HEADER, f"{exc}; closing")
            if self.closed:  # refused by the per-address limit
                return self._busy()
            if not data:
                return b""
        if self._buf:
            data = self._buf + data if data else self._buf
        pos = self._pos
        if pos == 0 and data.count(b"\n") <= TURN_LINES:
            # One turn takes it all: the common case, split in C.
            if b"\n" not in data:
                self._buf = data
                if len(data) > self._max_line + 1:  # +1: room for a final "\r"
                    return self._too_long()
                return b""
            lines = data.split(b"\n")
            rest = lines.pop()
        else:
            plannable = False  # a turn of a longer read: no plan of it
            lines = []
            find = data.find
            while len(lines) < TURN_LINES and (end := find(b"\n", pos)) >= 0:
                lines.append(data[pos:end])
                pos = end + 1
            if find(b"\n", pos) >= 0:
                # More lines than a turn: keep the input, go on from pos.
                self._buf, self._pos = data, pos
                self.backlog = True
                rest = b""
            else:
                self._pos = 0
                self.backlog = False
                rest = data[pos:]
        if not self._pos:
            self._buf = rest
        self.lines += len(lines)
        # A short read of the lines a game is made of is remembered with
        # what they ask (its plan), to be done without splitting next time.
        steps: list[_Step] | None = (
            [] if plannable and not rest and len(data) <= _PLAN_BYTES else None
        )
        longest = 0
        out = []
        for raw in lines:
            try:
                # The hot path: the lines a game is made of skip decoding,
                # splitting and dispatch.
                if raw == b"NUMBER":
                    if steps is not None:
                        steps.append(_NUMBER_STEP)
                    out.append(self._number())
                    continue
                decision = _REPORT_LINES.get(raw)
                if decision is not None:
                    if steps is not None:
                        steps.append((_REPORT, (decision,)))
                        longest = max(longest, len(raw))
                    self._report(decision)
                    continue
                if raw[-1:] == b"\r":
                    raw = raw[:-1]
                if len(raw) > self._max_line:
                    out.append(self._too_long())
                    return b"".join(out)
                # PARAMS lines seen on any connection before (within this
                # connection's line limit, checked just above).
                bounds = _PARAMS_SEEN.get(raw)
                if bounds is None:
                    # Parsed the long way: planned only if it proves to be
                    # a PARAMS line (a bad line raises, and is not planned).
                    planned, steps = steps, None
                    reply = self._line(raw)
                    if reply:
                        out.append(reply)
                    bounds = _PARAMS_SEEN.get(raw)
                    if bounds is None:
                        continue
                    steps = planned
                else:
                    self._params(*bounds)
                if steps is not None:
                    steps.append((_PARAMS, bounds))
                    longest = max(longest, len(raw))
            except ProtocolError as exc:
                # What the connection's state refused (no game, no guess)
                # is refused the same way by the plan.
                out.append(self._error(exc.code, exc.message))
        if len(rest) > self._max_line + 1:
            out.append(self._too_long())
        elif steps is not None:
            if len(_PLANS) >= _PLANS_MAX:
                _PLANS.clear()
            _PLANS[data] = (longest, tuple(steps))
        return b"".join(out)

    def _run_plan(self, steps: tuple[_Step, ...]) -> bytes:
        """Do what the lines of a read seen before ask (see :data:`_PLANS`),
        each as its line would: an error answers that line alone."""
        self.lines += len(steps)
        out = []
        for command, args in steps:
            try:
                reply = command(self, *args)
            except ProtocolError as exc:
                reply = self._error(exc.code, exc.message)
            if reply:
                out.append(reply)
        return b"".join(out)

    def receive_all(self, data: bytes) -> bytes:
        """:meth:`receive_data`, then every turn of the backlog at once: for
        a caller that serves nobody else (a test, a tool)."""
        out = [self.receive_data(data)]
        while self.backlog:
            out.append(self.receive_data(b""))
        return b"".join(out)

    def receive_message(self, message: str | bytes) -> bytes:
        """Feed one message of a message-framed transport (the WebSocket of
        SPEC section 6): a text message is one line without its ``\\n``.
        Returns the reply bytes, lines ending in ``\\n`` as from
        :meth:`receive_data`.

        A binary message (``bytes``), or text with a ``\\n`` in it, is
        answered ``bad-encoding`` and changes nothing, as a line that is not
        UTF-8 on TCP. A message is one line, so one call is one line's work
        and leaves no :attr:`backlog`.
        """
        if self.closed:
            return b""
        if isinstance(message, str):
            if "\n" not in message:
                return self.receive_data(message.encode(errors="surrogatepass") + b"\n")
            why = "a message is one line: it must not contain a newline"
        else:
            why = "binary messages are not served: send each line as a text message"
        self.lines += 1  # a line received, as a line that is not UTF-8 on TCP
        return self._error(ErrorCode.BAD_ENCODING, why)

    def receive_eof(self) -> None:
        """The peer is gone: its game, if any, is abandoned."""
        self.close(Outcome.ABANDONED)

    def close(self, outcome: Outcome = Outcome.ABANDONED) -> None:
        """End the connection: a game in progress ends with ``outcome``
        (WON instead if its secret was found)."""
        self._end_game(outcome)
        self.closed = True
        self._buf = b""
        self._pos = 0
        self.backlog = False

    # -- framing and dispatch ---------------------------------------------

    def _take_proxy_header(self, data: bytes) -> bytes:
        """Consume the PROXY header: the bytes after it (b"" while incomplete)."""
        assert self._proxy is not None
        result = self._proxy.feed(data)
        if result is None:
            return b""
        source, rest = result
        self._proxy = None
        if source is not None:
            self.peer = format_peer(source)
            if self.admit is not None and not self.admit(str(source[0])):
                self.close(Outcome.ERROR)
                return b""
        else:
            # PROXY LOCAL / UNKNOWN: the balancer speaking for itself, as its
            # health checks do. It may play, but its games are no player's:
            # neither recorded nor counted as started.
            self.from_balancer = True
            self.on_game_end = None
            self.on_game_start = None
            if self.admit is not None and not self.admit(None):
                self.close(Outcome.ERROR)
                return b""
        return rest

    def _error(self, code: ErrorCode, message: str) -> bytes:
        if self.on_error is not None:
            self.on_error(code)
        return format_error(code, message)

    def _busy(self) -> bytes:
        return self._error(ErrorCode.BUSY, "too many connections from your address; closing")

    def _too_long(self) -> bytes:
        self.close(Outcome.ERROR)
        return self._error(
            ErrorCode.LINE_TOO_LONG, f"line longer than {self._max_line} bytes; closing"
        )

    def _line(self, raw: bytes) -> bytes:
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            raise ProtocolError(ErrorCode.BAD_ENCODING, "line is not valid UTF-8") from None
        parts = text.split()
        if not parts:
            return b""
        word = parts[0].upper()
        if word == "PARAMS":
            return self._cmd_params(parts, raw)
        handler = _COMMANDS.get(word)
        if handler is None:
            raise ProtocolError(
                ErrorCode.UNKNOWN_COMMAND,
                f"unknown command {parts[0][:40]!r}; expected PARAMS, NUMBER, REPORT or CLEAR",
            )
        return handler(self, parts)

    # -- commands ---------------------------------------------------------

    def _cmd_params(self, parts: list[str], raw: bytes = b"") -> bytes:
        if len(parts) != 3:
            raise ProtocolError(ErrorCode.BAD_PARAMS, "usage: PARAMS <lower> <upper>")
        lower = parse_int64(parts[1], "lower")
        upper = parse_int64(parts[2], "upper")
        if 0 < len(raw) <= _PARAMS_SEEN_LINE:
            if len(_PARAMS_SEEN) >= _PARAMS_SEEN_MAX:
                _PARAMS_SEEN.clear()
            _PARAMS_SEEN[raw] = (lower, upper)
        self._params(lower, upper)
        return b""

    def _params(self, lower: int, upper: int) -> None:
        self._end_game(_ABANDONED)
        if lower <= upper:
            self._strategy = self._factory(lower, upper, self.config.rng)
            self._lower = lower
            self._upper = upper
            self._started = self.config.clock()
            if self.on_game_start is not None:
                self.on_game_start()

    def _cmd_number(self, parts: list[str]) -> bytes:
        if len(parts) != 1:
            raise ProtocolError(ErrorCode.BAD_PARAMS, "usage: NUMBER")
        return self._number()

    def _number_or_error(self) -> bytes:
        try:
            return self._number()
        except ProtocolError as exc:
            return self._error(exc.code, exc.message)

    def _number(self) -> bytes:
        strategy = self._strategy
        if strategy is None:
            raise ProtocolError(ErrorCode.NO_GAME, "no game in progress; send PARAMS first")
        if self._secret is not None:
            guess = self._secret
        else:
            guesses = self._guesses
            if len(guesses) >= self._max_guesses:
                strategy.check_candidates()  # no-candidates says more, where it holds
                raise ProtocolError(
                    ErrorCode.TOO_MANY_GUESSES,
                    f"no more guesses in this game: it holds {self._max_guesses}, the most "
                    "allowed; report the last one, or send PARAMS or CLEAR",
                )
            guess = strategy.next_guess()
            guesses.append(guess)
            self._codes.append(0)
        self._pending = guess
        return b"%d\n" % guess

    def _cmd_report(self, parts: list[str]) -> bytes:
        if len(parts) != 2:
            raise ProtocolError(ErrorCode.BAD_PARAMS, "usage: REPORT <decision>")
        decision = parse_decision(parts[1])
        if decision is None:
            raise ProtocolError(
                ErrorCode.BAD_REPORT,
                f"unknown decision {parts[1][:40]!r}; expected Warmer, Colder, Unsure, Same, "
                "Correct or 더따뜻함, 더차가움, 잘모르겠음, 맞음",
            )
        self._report(decision)
        return b""

    def _report(self, decision: Decision) -> None:
        strategy = self._strategy
        if strategy is None:
            raise ProtocolError(ErrorCode.NO_GAME, "no game in progress; send PARAMS first")
        guess = self._pending
        if guess is None:
            raise ProtocolError(ErrorCode.NO_GUESS, "no unreported guess; send NUMBER first")
        self._pending = None
        if self._secret is None:
            self._codes[-1] = DECISION_CODES[decision]
            if decision is _CORRECT:
                self._secret = guess
            else:
                strategy.observe(guess, decision)
        if self.on_report is not None:
            self.on_report(guess, decision)

    def _cmd_clear(self, parts: list[str]) -> bytes:
        if len(parts) != 1:
            raise ProtocolError(ErrorCode.BAD_PARAMS, "usage: CLEAR")
        self._end_game(Outcome.ABANDONED)
        return b""

    # -- games ------------------------------------------------------------

    def _end_game(self, outcome: Outcome) -> None:
        if self._strategy is None:
            return
        if self.on_game_end is not None:
            config = self.config
            # GameRecord's fields in order, made by tuple.__new__ in C rather
            # than by the named tuple's __new__ in Python: once a game.
            self.on_game_end(
                _new_record(
                    GameRecord,
                    (
                        self._lower,
                        self._upper,
                        config.strategy,
                        config.backend,
                        self.peer,
                        self._started,
                        config.clock(),
                        _WON if self._secret is not None else outcome,
                        Guesses(self._guesses, bytes(self._codes)),
                    ),
                )
            )
        # Whatever the game held goes with its record (or is freed now).
        self._strategy = None
        self._pending = None
        self._secret = None
        self._guesses = array("q")
        self._codes = bytearray()


_new_record = tuple.__new__

# The members the hot path names, as module globals: on Python 3.11 every
# attribute of an Enum class goes through EnumType.__getattr__'s hook, about
# 140 ns (Decision.CORRECT) against a few ns for a global.
_CORRECT = Decision.CORRECT
_WON = Outcome.WON
_ABANDONED = Outcome.ABANDONED

#: The exact bytes of the common REPORT lines (no stray whitespace or "\r").
_REPORT_LINES: dict[bytes, Decision] = {
    f"REPORT {token}".encode(): decision for token, decision in _DECISION_WORDS.items()
}

#: PARAMS lines parsed before, exactly as received, and their bounds: most
#: clients send the same few ranges again and again. Cleared when full.
_PARAMS_SEEN: dict[bytes, tuple[int, int]] = {}
_PARAMS_SEEN_MAX = 1024
#: Only lines this short are kept (below any line limit a server may have).
_PARAMS_SEEN_LINE = 64

#: What a line of a plan does: a command and its arguments after the connection.
_Step = tuple[Callable[..., bytes | None], tuple[object, ...]]
_NUMBER_STEP: _Step = (ServerConnection._number, ())
_REPORT: Callable[..., bytes | None] = ServerConnection._report
_PARAMS: Callable[..., bytes | None] = ServerConnection._params

#: Whole reads seen before, exactly as received, made only of lines a game
#: is made of (NUMBER, the common REPORT lines, PARAMS lines of
#: :data:`_PARAMS_SEEN`), with their longest line and their plan: the steps
#: their lines ask for, which :meth:`ServerConnection._run_plan` takes
#: without splitting or looking up a line. A playing client sends the same
#: read between two games every time (the winning report, ``PARAMS 0 -1``,
#: the next ``PARAMS``, ``NUMBER``). Cleared when full.
_PLANS: dict[bytes, tuple[int, tuple[_Step, ...]]] = {}
_PLANS_MAX = 1024
#: Only reads this short are kept.
_PLAN_BYTES = 128

#: The same followed by NUMBER in one read: a client's whole round trip.
_REPORT_THEN_NUMBER: dict[bytes, Decision] = {
    line + b"\nNUMBER\n": decision for line, decision in _REPORT_LINES.items()
}

_COMMANDS: dict[str, Callable[[ServerConnection, list[str]], bytes]] = {
    "PARAMS": ServerConnection._cmd_params,
    "NUMBER": ServerConnection._cmd_number,
    "REPORT": ServerConnection._cmd_report,
    "CLEAR": ServerConnection._cmd_clear,
}
