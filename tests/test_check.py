"""``guessgame check``: every row passes against this project's servers, and
each defect of a small broken server fails its row, within a bound of time.

The broken servers below play the seed's game (random guesses, the secret
repeated after the win, a connection closed on a line they do not know)
with exactly one defect each; ``english`` has none but the book's words.
"""

from __future__ import annotations

import asyncio
import io
import json
import random
import re
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import RunningServer, free_port
from guessgame.check import SCENARIOS, CheckConfig, CheckError, CheckResult, ioi_bound, run_check
from guessgame.check.context import Context, Shared
from guessgame.check.extensions import never_reads
from guessgame.check.probe import Failed
from guessgame.cli import IO, main

REQUIRED = [s.name for s in SCENARIOS if s.required]
#: Seconds a check may take against any server (SPEC section 7: a minute).
MINUTE = 60.0

# -- a seed-like server with one defect ----------------------------------------------

WORDS = {"ko": "맞음", "en": "Correct"}


class Session:
    """One connection of the seed's game, sans-I/O: a line in, a reply out."""

    def __init__(self, defect: str) -> None:
        self.defect = defect
        self.correct = WORDS["en" if defect == "english" else "ko"]
        self.lower = self.upper = 0
        self.playing = False
        self.guessed: list[int] = []
        self.said: set[int] = set()
        self.secret: int | None = None

    def handle(self, line: str) -> tuple[str | None, bool]:
        """The reply to ``line`` (or None) and whether to close the connection."""
        parts = line.split()
        if parts[:1] == ["PARAMS"] and len(parts) == 3:
            lower, upper = int(parts[1]), int(parts[2])
            self.lower, self.upper, self.playing = lower, upper, lower <= upper
            self.guessed, self.said, self.secret = [], set(), None
            return None, False
        if parts == ["NUMBER"] and self.playing:
            return str(self.guess()), False
        if parts[:1] == ["REPORT"] and len(parts) == 2 and self.guessed:
            if parts[1] == self.correct:
                self.secret = self.guessed[-1]
            return None, False
        return None, True  # the seed's session raises, and the connection closes

    def guess(self) -> int:
        if self.secret is not None and self.defect != "no-repeat-after-win":
            return self.secret
        count = len(self.guessed) + 1
        if self.defect == "repeat" and count == 4:
            guess = self.guessed[0]
        elif self.defect == "out-of-range" and count == 3:
            guess = self.upper + 1
        elif len(self.said) > self.upper - self.lower:
            guess = self.lower  # exhausted (the seed would spin here; the check never asks)
        else:
            while (guess := random.randint(self.lower, self.upper)) in self.said:
                pass
        self.guessed.append(guess)
        self.said.add(guess)
        return guess


class _Protocol(asyncio.Protocol):
    def __init__(self, defect: str) -> None:
        self.session = Session(defect)
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self.session.defect == "closes":
            transport.close()

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        if self.session.defect == "hangs":
            return
        *lines, self.buf = (self.buf + data).split(b"\n")
        for line in lines:
            reply, close = self.session.handle(line.decode("utf-8", "replace"))
            if reply is not None:
                self.transport.write(reply.encode() + b"\n")
            if close:
                self.transport.close()
                return


class BrokenServer:
    """A seed-like server with one defect, on a loopback port, in a thread.

    ``one-at-a-time`` is a blocking server that accepts the next connection
    only when the one it serves has closed; the others run on an event loop
    and never stop reading: a client that does not read makes their unsent
    replies grow without bound.
    """

    def __init__(self, defect: str) -> None:
        self.defect = defect
        self.stopping = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        target = self._serve_one_at_a_time if defect == "one-at-a-time" else self._serve_async
        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()

    def _serve_async(self) -> None:
        loop = asyncio.new_event_loop()
        self.loop = loop

        async def serve() -> None:
            server = await loop.create_server(lambda: _Protocol(self.defect), sock=self.listener)
            async with server:
                while not self.stopping.is_set():
                    await asyncio.sleep(0.05)

        loop.run_until_complete(serve())
        loop.close()

    def _serve_one_at_a_time(self) -> None:
        self.listener.settimeout(0.1)
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            with conn:
                session, buf = Session(self.defect), b""
                while not self.stopping.is_set():
                    if not select.select([conn], [], [], 0.1)[0]:
                        continue
                    try:
                        data = conn.recv(65536)
                    except OSError:
                        break
                    *lines, buf = (buf + data).split(b"\n")
                    replies, close = [], not data
                    for line in lines:
                        reply, close = session.handle(line.decode("utf-8", "replace"))
                        if reply is not None:
                            replies.append(reply.encode() + b"\n")
                        if close:
                            break
                    try:
                        conn.sendall(b"".join(replies))  # blocks while the client does not read
                    except OSError:
                        break
                    if close:
                        break
        self.listener.close()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(5)


@pytest.fixture
def broken() -> Iterator[Callable[[str], BrokenServer]]:
    servers: list[BrokenServer] = []

    def make(defect: str) -> BrokenServer:
        servers.append(BrokenServer(defect))
        return servers[-1]

    yield make
    for server in servers:
        server.stop()


# -- helpers ------------------------------------------------------------------------------


def checked(port: int, **options: Any) -> tuple[CheckResult, float]:
    started = time.monotonic()
    result = run_check(CheckConfig(port=port, seed=61, **options))
    return result, time.monotonic() - started


def rows(result: CheckResult) -> dict[str, Any]:
    return {row.name: row for row in result.rows}


def failed(result: CheckResult) -> set[str]:
    return {row.name for row in result.rows if not row.passed}


class _TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def run_cli(*argv: str, tty: bool = False) -> tuple[int, str, str]:
    out = _TTY() if tty else io.StringIO()
    err = io.StringIO()
    status = main(list(argv), IO(stdin=io.StringIO(), stdout=out, stderr=err))
    return status, out.getvalue(), err.getvalue()


# -- this project's servers ----------------------------------------------------------------


def test_every_row_passes_against_the_project(server: Callable[..., RunningServer]) -> None:
    srv = server()
    result, seconds = checked(srv.port)
    assert not failed(result), [r for r in result.rows if not r.passed]
    assert result.passed
    assert result.lang is not None and result.lang.value == "ko"
    assert [row.name for row in result.rows] == [s.name for s in SCENARIOS]
    rating = result.rating
    assert rating.worst is not None and rating.mean is not None
    assert rating.worst <= ioi_bound(100) == 9
    assert 5 <= rating.mean <= rating.worst
    assert rating.mean == round(rating.mean, 2)
    assert seconds < 20


def test_the_rating_shows_a_random_guesser(server: Callable[..., RunningServer]) -> None:
    srv = server(strategy="random")
    result, _ = checked(srv.port)
    assert result.passed  # every required row: the seed's guesser keeps the protocol
    rating = result.rating
    assert rating.worst is not None and rating.mean is not None
    assert rating.worst > 2 * ioi_bound(100)
    assert 35 < rating.mean < 65  # (N + 1) / 2 = 50.5 on average
    guessing = rows(result)["guessing"]
    assert not guessing.passed and not guessing.required
    assert f"worst {rating.worst}, mean {rating.mean:.2f}" in guessing.detail
    # A guesser that ignores the reports never finds them contradictory.
    assert "error-no-candidates" in failed(result)


# -- broken servers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "defect,row,seen",
    [
        ("repeat", "guesses-honest", r"guess -?\d+ repeated"),
        ("out-of-range", "guesses-honest", r"guess -?\d+ is outside"),
        ("no-repeat-after-win", "secret-repeated", "in neither vocabulary"),
        ("one-at-a-time", "100-connections", "1 of 100 connections answered"),
        ("closes", "secret-repeated", "closed the connection|reset by the server"),
    ],
)
def test_each_defect_fails_its_row(
    broken: Callable[[str], BrokenServer], defect: str, row: str, seen: str
) -> None:
    srv = broken(defect)
    started = time.monotonic()
    status, out, err = run_cli("check", "--port", str(srv.port), "--json", "--timeout", "0.5")
    seconds = time.monotonic() - started
    assert status == 1, err
    assert err == ""
    data = json.loads(out)
    assert data["passed"] is False
    [verdict] = [r for r in data["rows"] if r["name"] == row]
    assert verdict["required"] and not verdict["passed"]
    assert re.search(seen, verdict["detail"]), verdict["detail"]
    assert seconds < MINUTE


def test_one_connection_at_a_time_fails_only_where_connections_overlap(
    broken: Callable[[str], BrokenServer],
) -> None:
    srv = broken("one-at-a-time")
    result, seconds = checked(srv.port)  # the defaults, as `guessgame check` runs
    assert failed(result) & set(REQUIRED) == {"100-connections"}
    assert "first NUMBER (100 connected)" in rows(result)["100-connections"].detail
    # The client that plays beside the one that never reads is never served.
    assert "waited" in rows(result)["never-reads"].detail
    assert seconds < 20


def test_a_correct_server_that_speaks_only_english_passes(
    broken: Callable[[str], BrokenServer],
) -> None:
    srv = broken("english")
    status, out, err = run_cli("check", "--port", str(srv.port), "--json")
    assert status == 0, err
    data = json.loads(out)
    verdicts = {r["name"]: r for r in data["rows"]}
    assert data["passed"] and all(verdicts[name]["passed"] for name in REQUIRED), data
    assert verdicts["secret-repeated"]["detail"].startswith("speaks en: REPORT Correct on ")
    other = verdicts["other-vocabulary"]
    assert not other["passed"] and "맞음" in other["detail"]
    assert data["guessing"]["worst"] > 9


def test_a_server_that_keeps_reading_a_client_that_never_reads_fails_that_row() -> None:
    # In a process of its own: in this one, the server would share the check's GIL.
    code = (
        "import sys, time; from test_check import BrokenServer; "
        "s = BrokenServer('unbounded'); print(s.port, flush=True); time.sleep(30)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=Path(__file__).parent, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        context = Context(CheckConfig(port=port), Shared(), random.Random(61))
        with pytest.raises(Failed, match=r"kept reading the client that never reads: [\d.]+ MB"):
            asyncio.run(_run_and_close(never_reads, context))
    finally:
        proc.kill()
        proc.wait(5)


async def _run_and_close(scenario: Any, context: Context) -> str:
    try:
        return str(await scenario(context))
    finally:
        await context.close()


def test_a_server_that_never_answers_is_bounded_by_the_budget(
    broken: Callable[[str], BrokenServer],
) -> None:
    srv = broken("hangs")
    result, seconds = checked(srv.port, timeout=0.3, budget=6.0)
    assert seconds < 6.0 + 2.0
    assert not result.passed and not any(row.passed for row in result.rows)
    first = rows(result)["secret-repeated"].detail
    assert "no reply within 0.3 s" in first
    tail = result.rows[-1].detail
    assert "the check's 6 s were used up" in tail
    assert result.rating.worst is None and result.rating.mean is None


# -- the command line -------------------------------------------------------------------------


def test_cli_json_keys_are_the_spec_s(server: Callable[..., RunningServer]) -> None:
    srv = server()
    status, out, err = run_cli("check", "--port", str(srv.port), "--json")
    assert status == 0, err
    assert err == ""
    data = json.loads(out)
    assert set(data) == {"server", "passed", "rows", "guessing"}
    assert data["server"] == f"127.0.0.1:{srv.port}"
    assert data["passed"] is True
    assert [r["name"] for r in data["rows"]] == [s.name for s in SCENARIOS]
    for row in data["rows"]:
        assert set(row) == {"name", "required", "passed", "detail"}
        assert isinstance(row["detail"], str) and "\n" not in row["detail"]
        assert row["passed"] is True
    assert {r["name"] for r in data["rows"] if r["required"]} == set(REQUIRED)
    guessing = data["guessing"]
    assert set(guessing) == {"lower", "upper", "worst", "mean"}
    assert (guessing["lower"], guessing["upper"]) == (1, 100)
    assert 1 <= guessing["worst"] <= 9 and isinstance(guessing["mean"], float)


def test_cli_table_in_a_terminal_and_in_a_pipe(broken: Callable[[str], BrokenServer]) -> None:
    srv = broken("repeat")
    fast = ["--timeout", "0.5"]
    status, out, err = run_cli("check", "--port", str(srv.port), *fast, tty=True)
    assert status == 1 and err == ""
    assert "what was seen" in out and "✗" in out and "guesses-honest" in out
    assert "repeated" in out
    status, out, err = run_cli("check", "--port", str(srv.port), *fast)
    assert status == 1
    lines = out.splitlines()
    assert lines[0] == f"check 127.0.0.1:{srv.port}"
    [honest] = [line for line in lines if "guesses-honest" in line]
    assert honest.split()[:2] == ["FAIL", "required"] and "repeated" in honest
    assert "a required row FAILED" in lines[-1]
    assert "\x1b[" not in out  # no terminal codes in a pipe


def test_nothing_listening_exits_2_with_one_line() -> None:
    port = free_port()
    status, out, err = run_cli("check", "--port", str(port))
    assert status == 2
    assert out == ""
    assert err == f"guessgame: cannot connect to 127.0.0.1:{port}: Connection refused\n"
    with pytest.raises(CheckError):
        run_check(CheckConfig(port=port))


@pytest.mark.parametrize(
    "argv", [["--port", "x"], ["--port", "70000"], ["--timeout", "0"], ["--bogus"], ["extra"]]
)
def test_usage_errors_exit_2(argv: list[str]) -> None:
    status, out, err = run_cli("check", *argv)
    assert status == 2
    assert out == "" and "Traceback" not in err and err.strip()


def test_version() -> None:
    from importlib.metadata import version

    status, out, err = run_cli("--version")
    assert status == 0 and err == ""
    assert out == f"guessgame {version('guessgame')}\n"
