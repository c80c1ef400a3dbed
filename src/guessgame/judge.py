"""The client side, sans-I/O: the judge of warmer and colder, and reply parsing."""

from __future__ import annotations

from .protocol import Decision, ErrorCode, Lang

__all__ = [
    "BadReply",
    "ClientError",
    "ConnectionClosed",
    "Judge",
    "ServerError",
    "params_line",
    "parse_number_reply",
    "report_line",
]


class ClientError(Exception):
    """Base of what a client raises when a game cannot go on."""


class ConnectionClosed(ClientError):
    """The server closed the connection."""


class BadReply(ClientError):
    """The server sent a line that is not a reply of this protocol."""


class ServerError(ClientError):
    """The server answered ``ERROR <code> <message>``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"server error {code}: {message}")
        self.code = code
        self.message = message

    @property
    def error_code(self) -> ErrorCode | None:
        """The code as an :class:`ErrorCode`, if it is one this version knows."""
        try:
            return ErrorCode(self.code)
        except ValueError:
            return None


class Judge:
    """Turns each guess into a decision, exactly as the seed's client does.

    The distance of a guess to the secret is compared with the distance of
    the previously judged guess: closer is WARMER, farther COLDER, the same
    (or no previous guess) UNSURE, zero CORRECT.
    """

    __slots__ = ("secret", "last_distance")

    def __init__(self, secret: int) -> None:
        self.secret = secret
        self.last_distance: int | None = None

    @property
    def found(self) -> bool:
        """Whether a judged guess was the secret."""
        return self.last_distance == 0

    def judge(self, guess: int) -> Decision:
        distance = abs(guess - self.secret)
        last = self.last_distance
        self.last_distance = distance
        if distance == 0:
            return Decision.CORRECT
        if last is None or distance == last:
            return Decision.UNSURE
        return Decision.WARMER if distance < last else Decision.COLDER


def parse_number_reply(line: bytes | str) -> int:
    """The integer of a reply to ``NUMBER``; raises ServerError or BadReply."""
    if isinstance(line, bytes):
        try:
            text = line.decode()
        except UnicodeDecodeError:
            raise BadReply(f"server sent a line that is not UTF-8: {line[:40]!r}") from None
    else:
        text = line
    text = text.strip()
    if text.startswith("ERROR"):
        _, _, rest = text.partition(" ")
        code, _, message = rest.partition(" ")
        raise ServerError(code, message)
    try:
        return int(text)
    except ValueError:
        raise BadReply(f"server sent {text[:40]!r} where a number was expected") from None


def params_line(lower: int, upper: int) -> bytes:
    return b"PARAMS %d %d\n" % (lower, upper)


def report_line(decision: Decision, lang: Lang = Lang.KO) -> bytes:
    return f"REPORT {decision.token(lang)}\n".encode()
