"""The blocking client: the seed's ``Client`` over a plain socket."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from types import TracebackType

from .judge import (
    BadReply,
    ConnectionClosed,
    Judge,
    params_line,
    parse_number_reply,
    report_line,
)
from .protocol import DEFAULT_MAX_LINE, Decision, Lang

__all__ = ["Client"]

#: What the seed's client sends to end a game; every server of the protocol knows it.
END_GAME = b"PARAMS 0 -1\n"


class Client:
    """Plays games against a server on one connection (the seed's API shape).

    >>> with Client.connect("127.0.0.1", 3333) as client:
    ...     with client.session(1, 5, secret=3):
    ...         for number in client.request_numbers(5):
    ...             client.report_outcome(number)
    """

    def __init__(self, sock: socket.socket, lang: Lang = Lang.KO) -> None:
        self.sock = sock
        self.lang = lang
        self._file = sock.makefile("rb")
        self.judge: Judge | None = None

    @classmethod
    def connect(
        cls, host: str, port: int, *, timeout: float | None = 30.0, lang: Lang = Lang.KO
    ) -> Client:
        """Open a connection; OSError if nothing answers."""
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(sock, lang)

    def close(self) -> None:
        self._file.close()
        self.sock.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- the wire ---------------------------------------------------------

    def send(self, line: bytes) -> None:
        try:
            self.sock.sendall(line)
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise ConnectionClosed(f"connection lost: {exc.strerror}") from None

    def receive(self) -> bytes:
        """One line from the server, terminator removed."""
        try:
            line = self._file.readline(DEFAULT_MAX_LINE + 2)
        except ConnectionResetError:
            raise ConnectionClosed("connection reset by the server") from None
        if not line:
            raise ConnectionClosed("the server closed the connection")
        if not line.endswith(b"\n"):
            raise BadReply(f"reply line too long or cut off: {line[:40]!r}")
        return line.rstrip(b"\r\n")

    def number(self) -> int:
        """One ``NUMBER`` round trip: the server's next guess."""
        self.send(b"NUMBER\n")
        return parse_number_reply(self.receive())

    def report(self, decision: Decision) -> None:
        self.send(report_line(decision, self.lang))

    # -- the seed's API ---------------------------------------------------

    @contextlib.contextmanager
    def session(self, lower: int, upper: int, secret: int | None = None) -> Iterator[None]:
        """A game over ``[lower, upper]``; ends it (``PARAMS 0 -1``) on exit.

        With a ``secret``, :meth:`report_outcome` judges guesses against it;
        without one, the caller decides and sends :meth:`report` itself.
        """
        self.judge = Judge(secret) if secret is not None else None
        self.send(params_line(lower, upper))
        try:
            yield
        finally:
            self.judge = None
            self.send(END_GAME)

    def request_numbers(self, count: int) -> Iterator[int]:
        """Up to ``count`` guesses; stops early once one was judged correct."""
        for _ in range(count):
            yield self.number()
            if self.judge is not None and self.judge.found:
                return

    def report_outcome(self, number: int) -> Decision:
        """Judge ``number`` against the session's secret and report it."""
        if self.judge is None:
            raise RuntimeError("report_outcome() outside a session")
        decision = self.judge.judge(number)
        self.report(decision)
        return decision
