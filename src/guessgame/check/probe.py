"""One connection of the check: the project's asyncio client, every wait bounded.

A :class:`Probe` is an :class:`~guessgame.aclient.AsyncClient` whose sends and
reads each end within ``timeout`` seconds. Whatever goes wrong on the wire
(no reply, a closed connection, an ``ERROR`` where a number was due, a reply
that is not a number) is raised as :class:`Failed`, whose message is the
row's "what was seen": the lines sent since the last reply, then what came
back (or did not).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable

from ..aclient import AsyncClient
from ..judge import BadReply, ClientError, ConnectionClosed, ServerError, parse_number_reply
from ..protocol import ErrorCode, Lang, ProtocolError, parse_int64

__all__ = ["Failed", "Guesses", "Probe", "Unreachable", "shown"]

#: Lines sent without a reply that a detail names (the latest ones).
_CONTEXT_LINES = 3
#: Characters of a line a detail shows.
_SHOWN = 48
#: Seconds closing a connection may take before it is aborted.
_CLOSE_GRACE = 0.5


class Failed(Exception):
    """A scenario's failure; the message is one line saying what was seen."""


class Unreachable(Failed):
    """No connection could be opened; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"cannot connect: {reason}")
        self.reason = reason


def shown(line: bytes | str) -> str:
    """A line as a detail quotes it: decoded, without terminator, cut short."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", "backslashreplace")
    line = line.rstrip("\r\n").replace("\n", "\\n")
    if not line.strip():
        return "(blank line)" if line else "(empty line)"
    if len(line) > _SHOWN:
        line = f"{line[:_SHOWN]}...({len(line):,} chars)"
    return line


def _reason(exc: OSError) -> str:
    """Why a connect failed, in the words of the OS (asyncio's own wording
    names the address, which the caller already says)."""
    if isinstance(exc, socket.gaierror) or not exc.errno:
        return exc.strerror or str(exc)
    return os.strerror(exc.errno)


class Probe(AsyncClient):
    """An asyncio client of the protocol whose every wait ends within ``timeout``."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        lang: Lang = Lang.KO,
        timeout: float = 2.0,
    ) -> None:
        super().__init__(reader, writer, lang)
        self.timeout = timeout
        #: Lines sent since the last reply was read, for the detail of a failure.
        self.unanswered: list[bytes] = []
        #: Cuts each line sent into pieces, written ``pause`` seconds apart.
        self.split: Callable[[bytes], list[bytes]] | None = None
        self.pause = 0.002
        #: Replies read, and the seconds the slowest took from the latest line sent before it.
        self.replies = 0
        self.slowest = 0.0
        self._sent_at = 0.0

    @classmethod
    async def open(cls, host: str, port: int, *, lang: Lang, timeout: float) -> Probe:
        """A connection within ``timeout`` seconds, or :class:`Failed`."""
        try:
            async with asyncio.timeout(timeout):
                client = await cls.connect(host, port, lang=lang)
        except TimeoutError:
            raise Unreachable(f"no connection within {timeout:g} s") from None
        except OSError as exc:
            raise Unreachable(_reason(exc)) from None
        assert isinstance(client, Probe)
        client.timeout = timeout
        return client

    async def close(self) -> None:
        """Close; a server that does not take what is still unsent gets an abort."""
        transport = self.writer.transport
        if transport.get_write_buffer_size():
            transport.abort()
        self.writer.close()
        try:
            async with asyncio.timeout(_CLOSE_GRACE):
                await self.writer.wait_closed()
        except (TimeoutError, OSError):
            transport.abort()

    def abort(self) -> None:
        """Drop the connection at once (a reset if replies are left unread)."""
        self.writer.transport.abort()

    # -- the wire, bounded --------------------------------------------------

    def _after(self) -> str:
        if not self.unanswered:
            return ""
        lines = [shown(line) for line in self.unanswered[-_CONTEXT_LINES:]]
        more = len(self.unanswered) - len(lines)
        return "after " + ("... " if more else "") + " / ".join(lines) + ": "

    def failed(self, what: str) -> Failed:
        """A :class:`Failed` whose detail starts with the lines awaiting a reply."""
        return Failed(self._after() + what)

    @property
    def waiting(self) -> float:
        """Seconds the lines sent since the last reply have waited (0 if none)."""
        return time.monotonic() - self._sent_at if self.unanswered else 0.0

    async def send(self, line: bytes) -> None:
        lines = line.split(b"\n")  # a write may hold several lines, or part of one
        self.unanswered.extend(lines[:-1] if len(lines) > 1 and not lines[-1] else lines)
        self._sent_at = time.monotonic()
        try:
            async with asyncio.timeout(self.timeout):
                if self.split is None:
                    await super().send(line)
                    return
                for i, piece in enumerate(self.split(line)):
                    if i:
                        await asyncio.sleep(self.pause)
                    await super().send(piece)
        except TimeoutError:
            raise self.failed(f"the server read nothing for {self.timeout:g} s") from None
        except ConnectionClosed:
            raise self.failed("the server closed the connection") from None

    async def receive(self) -> bytes:
        """One reply line (terminator removed), or :class:`Failed`."""
        try:
            async with asyncio.timeout(self.timeout):
                line = await super().receive()
        except TimeoutError:
            raise self.failed(f"no reply within {self.timeout:g} s") from None
        except ClientError as exc:
            raise self.failed(str(exc)) from None
        self.unanswered.clear()
        self.replies += 1
        self.slowest = max(self.slowest, time.monotonic() - self._sent_at)
        return line

    async def number(self) -> int:
        """``NUMBER`` and its reply, which must be a decimal integer."""
        await self.send(b"NUMBER\n")
        return await self.read_number()

    async def read_number(self) -> int:
        """A reply that must be a decimal integer (``ERROR`` lines fail too)."""
        after = self._after()
        reply = await self.number_or_error()
        if isinstance(reply, str):
            raise Failed(f"{after}{shown(reply)}")
        return reply

    async def number_or_error(self) -> int | str:
        """A reply that must be a decimal integer or an ``ERROR`` line (returned as text)."""
        after = self._after()
        line = await self.receive()
        try:
            value = parse_number_reply(line)
            parse_int64(line.decode().strip(), "reply")  # decimal digits only, 64-bit
        except ServerError:
            return line.decode()
        except (BadReply, ProtocolError, UnicodeDecodeError):
            raise Failed(f"{after}{shown(line)!r} where a number was expected") from None
        return value

    async def expect_error(self, code: ErrorCode) -> str:
        """A reply that must be ``ERROR <code> ...``; returns the line."""
        want = code.value
        after = self._after()
        line = await self.receive()
        text = line.decode("utf-8", "replace")
        words = text.split()
        if words[:2] != ["ERROR", want]:
            raise Failed(f"{after}{shown(text)!r} where ERROR {want} was expected")
        return text

    async def expect_close(self) -> None:
        """The server closes the connection (EOF or reset) with nothing more to say."""
        after = self._after()
        try:
            async with asyncio.timeout(self.timeout):
                rest = await self.reader.read(1024)
        except TimeoutError:
            raise Failed(
                f"{after}the server did not close the connection within {self.timeout:g} s"
            ) from None
        except ConnectionResetError:
            return
        if rest:
            raise Failed(f"{after}{shown(rest)!r} where the connection should close")


class Guesses:
    """The guesses of one game: each must lie in range and be new."""

    __slots__ = ("lower", "upper", "what", "order", "won")

    def __init__(self, lower: int, upper: int, what: str = "") -> None:
        self.lower = lower
        self.upper = upper
        self.what = what or f"game {lower}..{upper}"
        self.order: dict[int, int] = {}
        self.won = False

    def __len__(self) -> int:
        return len(self.order)

    @property
    def size(self) -> int:
        """How many numbers the range holds."""
        return self.upper - self.lower + 1

    def add(self, guess: int) -> int:
        """Record a guess; :class:`Failed` if it is out of range or a repeat."""
        count = len(self.order) + 1
        if not self.lower <= guess <= self.upper:
            raise Failed(
                f"guess {guess} is outside {self.lower}..{self.upper} ({self.what}, guess {count})"
            )
        first = self.order.get(guess)
        if first is not None:
            raise Failed(f"guess {guess} repeated ({self.what}: guesses {first} and {count})")
        self.order[guess] = count
        return guess
