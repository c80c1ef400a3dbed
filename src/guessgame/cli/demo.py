"""``guessgame demo``: the seed's ``main()`` over real TCP on loopback."""

from __future__ import annotations

import argparse
import asyncio
import threading
from typing import Any

from ..aclient import AsyncClient
from ..client import Client
from ..judge import ClientError
from ..protocol import Decision, Lang
from ..server import Backend, ServerConfig, ServerHub
from ..strategies import DEFAULT_STRATEGY, STRATEGIES
from ..transcript import client_line, server_line, session_header
from ._common import IO, ExitStatus, UserError, add_lang
from .serve import make_server

__all__ = ["GAMES", "add_parser", "run"]

#: The seed's two games: (lower, upper, secret), 5 guesses each.
GAMES = ((1, 5, 3), (10, 15, 12))
GUESSES = 5


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "demo",
        help="play the seed's two games against a server on loopback",
        description=(
            "The seed's main(): start a server on a free loopback port, play 1..5 "
            "(secret 3) and 10..15 (secret 12) with 5 guesses each, and print the "
            "transcript, the server's reports as they arrive and the client's at the "
            "end. The threads backend is played by the blocking client, asyncio by "
            "the asyncio client."
        ),
    )
    p.add_argument(
        "--backend",
        choices=[b.value for b in Backend],
        default=Backend.ASYNCIO.value,
        help="server backend (default asyncio)",
    )
    p.add_argument(
        "--strategy",
        choices=sorted(STRATEGIES),
        default=DEFAULT_STRATEGY,
        help="the server's guesser (default smart; random is the seed's)",
    )
    add_lang(p, "language of the game")
    p.set_defaults(func=run)


class _Reports:
    """Prints the server's report lines and lets the client wait for them,
    so the transcript comes out in the seed's order."""

    def __init__(self, io: IO, lang: Lang) -> None:
        self.io = io
        self.lang = lang
        self.count = 0
        self.cond = threading.Condition()

    def __call__(self, guess: int, decision: Decision) -> None:
        with self.cond:
            print(server_line(guess, decision, self.lang), file=self.io.stdout, flush=True)
            self.count += 1
            self.cond.notify_all()

    def wait_for(self, count: int) -> None:
        with self.cond:
            self.cond.wait_for(lambda: self.count >= count, timeout=5.0)


def run(args: argparse.Namespace, io: IO) -> int:
    lang = args.lang
    backend = Backend(args.backend)
    config = ServerConfig(host="127.0.0.1", port=0, backend=backend, strategy=args.strategy)
    reports = _Reports(io, lang)
    hub = ServerHub(config, report_hook=reports)
    server = make_server(hub)
    bound = threading.Event()
    address: list[tuple[str, int]] = []
    failure: list[BaseException] = []

    def ready(bound_address: tuple[str, int]) -> None:
        address.append(bound_address)
        bound.set()

    def serve() -> None:
        try:
            server.run(ready, handle_signals=False)
        except BaseException as exc:  # reported by the main thread
            failure.append(exc)
            bound.set()

    thread = threading.Thread(target=serve, name="demo-server", daemon=True)
    thread.start()
    bound.wait(10.0)
    if not address:
        raise UserError(f"could not start the demo server: {failure[0] if failure else 'timeout'}")
    host, port = address[0]
    try:
        if backend is Backend.THREADS:
            results = _play_blocking(host, port, reports, io, lang)
        else:
            results = asyncio.run(_play_async(host, port, reports, io, lang))
    except (OSError, ClientError) as exc:
        raise UserError(f"demo connection failed: {exc}") from None
    finally:
        server.request_stop()
        thread.join(10.0)
    for number, decision in results:
        print(client_line(number, decision, lang), file=io.stdout)
    io.stdout.flush()
    return ExitStatus.OK


def _header(io: IO, lower: int, upper: int, secret: int, lang: Lang) -> None:
    print(f"\n{session_header(lower, upper, secret, lang)}", file=io.stdout, flush=True)


def _play_blocking(
    host: str, port: int, reports: _Reports, io: IO, lang: Lang
) -> list[tuple[int, Decision]]:
    results: list[tuple[int, Decision]] = []
    with Client.connect(host, port, lang=lang) as client:
        for lower, upper, secret in GAMES:
            _header(io, lower, upper, secret, lang)
            with client.session(lower, upper, secret):
                for number in client.request_numbers(GUESSES):
                    results.append((number, client.report_outcome(number)))
                    reports.wait_for(len(results))
    return results


async def _play_async(
    host: str, port: int, reports: _Reports, io: IO, lang: Lang
) -> list[tuple[int, Decision]]:
    results: list[tuple[int, Decision]] = []
    async with await AsyncClient.connect(host, port, lang=lang) as client:
        for lower, upper, secret in GAMES:
            _header(io, lower, upper, secret, lang)
            async with client.session(lower, upper, secret):
                async for number in client.request_numbers(GUESSES):
                    results.append((number, await client.report_outcome(number)))
                    await asyncio.to_thread(reports.wait_for, len(results))
    return results
