"""Wire protocol v1: decisions, error codes, and the text of every line.

Everything here is pure: no sockets, no clocks. A line on the wire is UTF-8
text terminated by ``\\n`` (a trailing ``\\r`` is ignored); tokens are
separated by any run of whitespace and command words are case-insensitive.

Commands (client to server)::

    PARAMS <lower> <upper>   start a game over [lower, upper]; lower > upper ends it
    NUMBER                   ask for the server's next guess
    REPORT <decision>        judge the latest guess
    CLEAR                    end the current game

Replies (server to client): a decimal integer after ``NUMBER``, or
``ERROR <code> <message>`` after any bad line.
"""

from __future__ import annotations

import enum

__all__ = [
    "DEFAULT_MAX_GUESSES",
    "DEFAULT_MAX_LINE",
    "MIN_MAX_LINE",
    "INT64_MAX",
    "INT64_MIN",
    "Decision",
    "ErrorCode",
    "Lang",
    "decision_words",
    "ProtocolError",
    "format_error",
    "parse_decision",
    "parse_int64",
]

#: Longest accepted line in bytes, terminator excluded. A game line is at
#: most ``PARAMS`` plus two 20-digit numbers (about 50 bytes); 1 KiB leaves
#: room for chatty clients while keeping a connection's buffer tiny.
DEFAULT_MAX_LINE = 1024
#: The least line limit a server may set: room for ``PARAMS 0 -1``.
MIN_MAX_LINE = 16

#: Most guesses a game may hold (``serve --max-guesses``). Every honest game
#: of the ``smart`` strategy needs at most 65 (2**64 numbers), the seed's
#: random guesser about half its range: 1000 lets both play ranges of up to
#: a thousand numbers to the end, while a client that asks and asks without
#: ever finishing holds at most 1000 guesses (9 KB) per connection.
DEFAULT_MAX_GUESSES = 1000

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

#: Digits of the widest signed 64-bit integer (without leading zeros).
_INT64_DIGITS = len(str(INT64_MIN)) - 1


class Lang(enum.Enum):
    """The vocabulary a party speaks: the seed's Korean or the book's English."""

    KO = "ko"
    EN = "en"


class Decision(enum.Enum):
    """The client's verdict on a guess, relative to the previously reported guess."""

    WARMER = "warmer"
    COLDER = "colder"
    UNSURE = "unsure"
    CORRECT = "correct"

    def token(self, lang: Lang = Lang.KO) -> str:
        """The word sent on the wire for this decision."""
        return _TOKENS[lang][self]


_TOKENS: dict[Lang, dict[Decision, str]] = {
    Lang.KO: {
        Decision.WARMER: "더따뜻함",
        Decision.COLDER: "더차가움",
        Decision.UNSURE: "잘모르겠음",
        Decision.CORRECT: "맞음",
    },
    Lang.EN: {
        Decision.WARMER: "Warmer",
        Decision.COLDER: "Colder",
        Decision.UNSURE: "Unsure",
        Decision.CORRECT: "Correct",
    },
}

# Keys are casefolded; "same" is the 3rd edition's word for an equal distance.
_DECISIONS: dict[str, Decision] = {
    **{tok.casefold(): d for lang in Lang for d, tok in _TOKENS[lang].items()},
    "same": Decision.UNSURE,
}


def decision_words() -> dict[str, Decision]:
    """Every decision word of both vocabularies as the books spell it."""
    words = {tok: d for lang in Lang for d, tok in _TOKENS[lang].items()}
    words["Same"] = Decision.UNSURE
    return words


def parse_decision(token: str) -> Decision | None:
    """The decision a wire token names (either vocabulary), or None."""
    decision = _DECISIONS.get(token)
    if decision is None:
        decision = _DECISIONS.get(token.casefold())
    return decision


class ErrorCode(enum.Enum):
    """The ``<code>`` of an ``ERROR`` reply (SPEC section 1)."""

    UNKNOWN_COMMAND = "unknown-command"
    BAD_PARAMS = "bad-params"
    NO_GAME = "no-game"
    NO_GUESS = "no-guess"
    BAD_REPORT = "bad-report"
    NO_CANDIDATES = "no-candidates"
    BAD_ENCODING = "bad-encoding"
    LINE_TOO_LONG = "line-too-long"
    BUSY = "busy"
    #: NUMBER in a game that already holds ``--max-guesses`` guesses.
    TOO_MANY_GUESSES = "too-many-guesses"
    #: ``serve --proxy-protocol``: the connection did not start with a valid header.
    BAD_PROXY_HEADER = "bad-proxy-header"

    @property
    def closes(self) -> bool:
        """Whether the server closes the connection after this error."""
        return self in (ErrorCode.LINE_TOO_LONG, ErrorCode.BUSY, ErrorCode.BAD_PROXY_HEADER)


class ProtocolError(Exception):
    """A line the protocol refuses; becomes one ``ERROR`` reply."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message

    def line(self) -> bytes:
        """The reply line, terminator included."""
        return format_error(self.code, self.message)


def format_error(code: ErrorCode, message: str) -> bytes:
    """``ERROR <code> <message>\\n`` as bytes."""
    return f"ERROR {code.value} {message}\n".encode()


def parse_int64(text: str, what: str) -> int:
    """A signed 64-bit decimal integer, or ProtocolError(bad-params)."""
    digits = text[1:] if text[:1] in ("+", "-") else text
    # isdigit() alone admits other scripts' digits; int() refuses more than
    # 4300 of them, so the length is checked first (leading zeros count).
    if not (digits.isascii() and digits.isdigit()):
        raise ProtocolError(ErrorCode.BAD_PARAMS, f"{what} is not an integer: {text[:40]!r}")
    if len(digits) <= _INT64_DIGITS:
        value = int(text)
    else:
        digits = digits.lstrip("0")
        if len(digits) > _INT64_DIGITS:
            raise ProtocolError(
                ErrorCode.BAD_PARAMS, f"{what} is outside signed 64-bit: {text[:40]}"
            )
        value = int(digits or "0") * (-1 if text[0] == "-" else 1)
    if not INT64_MIN <= value <= INT64_MAX:
        raise ProtocolError(ErrorCode.BAD_PARAMS, f"{what} is outside signed 64-bit: {text[:40]}")
    return value
