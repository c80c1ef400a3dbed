"""The asyncio client: the seed's ``AsyncClient`` over asyncio streams."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from types import TracebackType

from .client import END_GAME
from .judge import (
    BadReply,
    ConnectionClosed,
    Judge,
    params_line,
    parse_number_reply,
    report_line,
)
from .protocol import DEFAULT_MAX_LINE, Decision, Lang

__all__ = ["AsyncClient"]


class AsyncClient:
    """Plays games against a server on one connection, asynchronously.

    >>> async with await AsyncClient.connect("127.0.0.1", 3333) as client:
    ...     async with client.session(1, 5, secret=3):
    ...         async for number in client.request_numbers(5):
    ...             await client.report_outcome(number)
    """

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, lang: Lang = Lang.KO
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.lang = lang
        self.judge: Judge | None = None

    @classmethod
    async def connect(cls, host: str, port: int, *, lang: Lang = Lang.KO) -> AsyncClient:
        """Open a connection; OSError if nothing answers."""
        reader, writer = await asyncio.open_connection(host, port, limit=DEFAULT_MAX_LINE + 2)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer, lang)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # -- the wire ---------------------------------------------------------

    async def send(self, line: bytes) -> None:
        self.writer.write(line)
        try:
            await self.writer.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise ConnectionClosed(f"connection lost: {exc.strerror}") from None

    async def receive(self) -> bytes:
        """One line from the server, terminator removed."""
        try:
            line = await self.reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                raise BadReply(f"reply cut off: {exc.partial[:40]!r}") from None
            raise ConnectionClosed("the server closed the connection") from None
        except asyncio.LimitOverrunError:
            raise BadReply("reply line too long") from None
        except ConnectionResetError:
            raise ConnectionClosed("connection reset by the server") from None
        return line.rstrip(b"\r\n")

    async def number(self) -> int:
        """One ``NUMBER`` round trip: the server's next guess."""
        await self.send(b"NUMBER\n")
        return parse_number_reply(await self.receive())

    async def report(self, decision: Decision) -> None:
        await self.send(report_line(decision, self.lang))

    # -- the seed's API ---------------------------------------------------

    @contextlib.asynccontextmanager
    async def session(
        self, lower: int, upper: int, secret: int | None = None
    ) -> AsyncIterator[None]:
        """A game over ``[lower, upper]``; ends it (``PARAMS 0 -1``) on exit.

        With a ``secret``, :meth:`report_outcome` judges guesses against it;
        without one, the caller decides and sends :meth:`report` itself.
        """
        self.judge = Judge(secret) if secret is not None else None
        await self.send(params_line(lower, upper))
        try:
            yield
        finally:
            self.judge = None
            await self.send(END_GAME)

    async def request_numbers(self, count: int) -> AsyncIterator[int]:
        """Up to ``count`` guesses; stops early once one was judged correct."""
        for _ in range(count):
            yield await self.number()
            if self.judge is not None and self.judge.found:
                return

    async def report_outcome(self, number: int) -> Decision:
        """Judge ``number`` against the session's secret and report it."""
        if self.judge is None:
            raise RuntimeError("report_outcome() outside a session")
        decision = self.judge.judge(number)
        await self.report(decision)
        return decision
