"""The ceiling: about the least a server of the protocol can do per round trip.

An ``asyncio.Protocol`` that splits lines at the byte level, answers each
``NUMBER`` with a random number of the current range that it has not said
in this game, ignores ``REPORT`` (it guesses at random, like the seed), and
writes all the replies to one chunk of input with one ``transport.write``.
It reads the protocol loosely: no validation, no store, no log; it answers
only ``NUMBER`` (``ERROR no-game`` without a range, ``ERROR no-candidates``
when every number was said).

    python benchmarks/minimal_server.py --port 3334 [--loop uvloop|asyncio]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import sys
from pathlib import Path

try:
    from guessgame.loops import LOOPS, default_loop, loop_factory
except ImportError:  # run from a checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from guessgame.loops import LOOPS, default_loop, loop_factory

#: Pause reading while this many reply bytes wait to be sent.
WRITE_HIGH_WATER = 64 * 1024

_NO_GAME = b"ERROR no-game no game in progress\n"
_NO_CANDIDATES = b"ERROR no-candidates every number was guessed\n"


class MinimalProtocol(asyncio.Protocol):
    """One connection: the current range and the numbers already said."""

    __slots__ = ("transport", "buf", "lower", "span", "said")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.lower = 0
        self.span = 0  # 0: no game
        self.said: set[int] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        tr: asyncio.Transport = transport  # type: ignore[assignment]
        tr.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        self.transport = tr

    def data_received(self, data: bytes) -> None:
        if self.buf:
            data = self.buf + data
        lines = data.split(b"\n")
        self.buf = lines.pop()
        out = []
        for line in lines:
            first = line[:1]
            if first in (b"N", b"n"):
                out.append(self.number())
            elif first in (b"P", b"p"):
                self.params(line)
            elif first in (b"C", b"c"):
                self.span = 0
        if out:
            self.transport.write(b"".join(out))  # type: ignore[union-attr]

    def number(self) -> bytes:
        span = self.span
        if not span:
            return _NO_GAME
        said = self.said
        if len(said) >= span:
            return _NO_CANDIDATES
        if len(said) * 2 < span:
            guess = int(random.random() * span)
            while guess in said:
                guess = int(random.random() * span)
        else:  # most numbers were said: draw among those left
            guess = random.choice([g for g in range(span) if g not in said])
        said.add(guess)
        return b"%d\n" % (self.lower + guess)

    def params(self, line: bytes) -> None:
        try:
            _, lower, upper = line.split()
            lo, hi = int(lower), int(upper)
        except ValueError:
            return
        self.said.clear()
        self.lower = lo
        self.span = hi - lo + 1 if hi >= lo else 0

    def pause_writing(self) -> None:
        self.transport.pause_reading()  # type: ignore[union-attr]

    def resume_writing(self) -> None:
        self.transport.resume_reading()  # type: ignore[union-attr]


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(MinimalProtocol, host, port, backlog=4096)
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    address = server.sockets[0].getsockname()
    print(f"minimal server on {address[0]}:{address[1]}", flush=True)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3334)
    parser.add_argument("--loop", choices=LOOPS, default=default_loop())
    args = parser.parse_args(argv)
    with asyncio.Runner(loop_factory=loop_factory(args.loop)) as runner:
        runner.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
