"""The command line, in-process through ``main([...], io=IO(...))``, plus one
end-to-end run of the console script."""

from __future__ import annotations

import argparse
import io as _io
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import IO_TIMEOUT, ROOT, ServerProcess, free_port
from guessgame.cli import IO, build_parser, main
from guessgame.judge import Judge
from guessgame.protocol import Decision, Lang
from guessgame.records import Outcome

DECISIONS = {d.token(lang): d for lang in Lang for d in Decision}
CLIENT_LINE = {
    Lang.KO: re.compile(r"^클라이언트: (-?\d+)는 (\S+)$"),
    Lang.EN: re.compile(r"^Client: (-?\d+) is (\S+)$"),
}
SERVER_LINE = {
    Lang.KO: re.compile(r"^서버: (-?\d+)는 (\S+)$"),
    Lang.EN: re.compile(r"^Server: (-?\d+) is (\S+)$"),
}


def header(lower: int, upper: int, secret: int, lang: Lang) -> str:
    if lang is Lang.EN:
        return f"Guess a number between {lower} and {upper}! Shhhhh, it's {secret}."
    return f"{lower}와 {upper} 사이의 숫자를 맞춰보세요! 쉿! 그 숫자는 {secret} 입니다."


class Run:
    """The result of one in-process ``main`` call."""

    def __init__(self, argv: list[str], stdin: str = "") -> None:
        self.io = IO(_io.StringIO(stdin), _io.StringIO(), _io.StringIO())
        self.status = main(argv, io=self.io)
        self.out = self.io.stdout.getvalue()
        self.err = self.io.stderr.getvalue()

    def client_lines(self, lang: Lang = Lang.KO) -> list[tuple[int, Decision]]:
        pattern = re.compile(CLIENT_LINE[lang].pattern[1:-1])
        return [(int(n), DECISIONS[w]) for n, w in pattern.findall(self.out)]


def one_error_line(stderr: str) -> str:
    """The single message line of a failure (argparse's usage lines aside)."""
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    if lines and lines[0].startswith("usage:"):
        lines = lines[1:]
        while lines and lines[0].startswith(" "):  # a wrapped usage line
            lines = lines[1:]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("guessgame")
    return lines[0]


def check_transcript(results: list[tuple[int, Decision]], lower: int, upper: int, secret: int):
    judge = Judge(secret)
    guesses = [n for n, _ in results]
    assert len(set(guesses)) == len(guesses)
    for n, d in results:
        assert lower <= n <= upper
        assert judge.judge(n) is d
    assert all(d is not Decision.CORRECT for _, d in results[:-1])


# -- help and usage errors ----------------------------------------------------


def command_names() -> list[str]:
    parser = build_parser(IO())
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sorted(sub.choices)


def test_the_commands_of_the_spec_exist() -> None:
    assert {"serve", "play", "demo"} <= set(command_names())


@pytest.mark.parametrize("argv", [["--help"], *[[c, "--help"] for c in command_names()]])
def test_help(argv: list[str]) -> None:
    run = Run(argv)
    assert run.status == 0
    assert run.out.startswith("usage: guessgame")
    assert run.err == ""


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["serve", "--port", "abc"],
        ["serve", "--port", "70000"],
        ["serve", "--backend", "twisted"],
        ["serve", "--strategy", "psychic"],
        ["serve", "--max-connections", "0"],
        ["serve", "--idle-timeout", "0"],
        ["serve", "--idle-timeout", "nan"],
        ["serve", "--grace", "-1"],
        ["serve", "--lang", "fr"],
        ["serve", "--bogus"],
        ["serve", "--db", "x.sqlite", "--no-db"],
        ["play"],
        ["play", "--lower", "1"],
        ["play", "--lower", "x", "--upper", "5"],
        ["play", "--lower", "1", "--upper", str(2**63)],
        ["play", "--lower", "1", "--upper", "5", "--count", "0"],
        ["play", "--lower", "5", "--upper", "1"],
        ["play", "--lower", "1", "--upper", "5", "--secret", "9"],
        ["play", "--lower", "1", "--upper", "5", "--port", "-1"],
        ["demo", "--lang", "fr"],
        ["demo", "--backend", "gevent"],
        ["demo", "extra"],
    ],
)
def test_bad_options_exit_2_with_one_line(argv: list[str]) -> None:
    run = Run(argv)
    assert run.status == 2
    one_error_line(run.err)
    assert run.out == ""


def test_nothing_listening() -> None:
    port = free_port()
    run = Run(["play", "--port", str(port), "--lower", "1", "--upper", "5", "--secret", "3"])
    assert run.status == 2
    line = one_error_line(run.err)
    assert f"127.0.0.1:{port}" in line
    assert run.out == ""


# -- play ---------------------------------------------------------------------


@pytest.mark.parametrize("lang", list(Lang))
def test_play_with_a_secret(server: Any, lang: Lang) -> None:
    srv = server(strategy="random")
    run = Run(
        ["play", "--port", str(srv.port), "--lower", "1", "--upper", "5", "--secret", "3"]
        + ["--lang", lang.value]
    )
    assert run.status == 0, run.err
    assert run.err == ""
    lines = run.out.splitlines()
    assert lines[0] == header(1, 5, 3, lang)
    results = run.client_lines(lang)
    assert len(results) == len(lines) - 1
    assert all(CLIENT_LINE[lang].match(x) for x in lines[1:])
    check_transcript(results, 1, 5, 3)
    assert results[-1] == (3, Decision.CORRECT)
    assert lines[-1] == ("클라이언트: 3는 맞음" if lang is Lang.KO else "Client: 3 is Correct")
    [record] = srv.wait_for_records(1)
    assert record.outcome is Outcome.WON
    assert list(record.guesses) == results


def test_play_runs_out_of_guesses(server: Any) -> None:
    srv = server(strategy="random")
    upper = 2**40
    run = Run(
        ["play", "--port", str(srv.port), "--lower", "0", "--upper", str(upper), "--secret", "0"]
        + ["--count", "1"]
    )
    [(guess, decision)] = run.client_lines()
    assert 0 <= guess <= upper
    assert decision is (Decision.CORRECT if guess == 0 else Decision.UNSURE)
    # Exit 0 only if the one guess found the secret; 1 when guesses ran out.
    assert run.status == (0 if guess == 0 else 1), run.err
    assert run.err == ""
    [record] = srv.wait_for_records(1)
    assert record.guess_count == 1
    assert record.outcome is (Outcome.WON if guess == 0 else Outcome.ABANDONED)


def test_play_with_count_finds_within_it(server: Any) -> None:
    srv = server(strategy="random")
    run = Run(
        ["play", "--port", str(srv.port), "--lower", "1", "--upper", "4", "--secret", "2"]
        + ["--count", "4"]
    )
    assert run.status == 0
    assert run.client_lines()[-1] == (2, Decision.CORRECT)


@pytest.mark.parametrize(
    "lang,answers,expected",
    [
        (
            Lang.KO,
            "bogus\nw\nunsure\nCOLDER\n더따뜻함\ns\ny\n",
            [Decision.UNSURE, Decision.COLDER, Decision.WARMER, Decision.UNSURE, Decision.CORRECT],
        ),
        (
            Lang.EN,
            "  Unsure \nwarmer\nc\nsame\n???\nCorrect\n",
            [Decision.UNSURE, Decision.WARMER, Decision.COLDER, Decision.UNSURE, Decision.CORRECT],
        ),
        (
            Lang.KO,
            "잘모르겠음\n더차가움\nW\nU\n맞음\n",
            [Decision.UNSURE, Decision.COLDER, Decision.WARMER, Decision.UNSURE, Decision.CORRECT],
        ),
        (Lang.EN, "yes\n", [Decision.CORRECT]),
    ],
)
def test_play_interactively(server: Any, lang: Lang, answers: str, expected: list[Any]) -> None:
    srv = server(strategy="random")
    run = Run(
        ["play", "--port", str(srv.port), "--lower", "1", "--upper", "100", "--lang", lang.value],
        stdin=answers,
    )
    assert run.status == 0, run.err
    results = run.client_lines(lang)
    assert [d for _, d in results] == expected
    assert len({n for n, _ in results}) == len(results)
    # One prompt per answer read, bad ones re-prompted.
    prompt = "Server guesses" if lang is Lang.EN else "서버의 추측:"
    assert run.out.count(prompt) == answers.count("\n")
    [record] = srv.wait_for_records(1)
    assert list(record.guesses) == results
    assert record.outcome is Outcome.WON


def test_play_interactively_rejects_warmer_first(server: Any) -> None:
    srv = server(strategy="random")
    run = Run(
        ["play", "--port", str(srv.port), "--lower", "1", "--upper", "9", "--lang", "en"],
        stdin="w\ncolder\ncorrect\n",
    )
    assert run.status == 0
    assert run.out.count("Server guesses") == 3
    assert [d for _, d in run.client_lines(Lang.EN)] == [Decision.CORRECT]


def test_play_interactively_until_stdin_ends(server: Any) -> None:
    srv = server(strategy="random")
    run = Run(["play", "--port", str(srv.port), "--lower", "1", "--upper", "9"], stdin="u\nw\n")
    assert run.status == 2
    one_error_line(run.err)
    assert len(run.client_lines()) == 2
    [record] = srv.wait_for_records(1)
    assert record.outcome is Outcome.ABANDONED
    assert [d for _, d in record.guesses] == [Decision.UNSURE, Decision.WARMER, None]


# -- demo ---------------------------------------------------------------------


def check_demo(out: str, lang: Lang, strategy: str) -> None:
    """The seed's transcript: for each game a blank line, the header and the
    server's reports; then the client's lines for both games."""
    lines = out.splitlines()
    server_results: list[tuple[int, Decision]] = []
    i = 0
    for lower, upper, secret in ((1, 5, 3), (10, 15, 12)):
        assert lines[i] == ""
        assert lines[i + 1] == header(lower, upper, secret, lang)
        i += 2
        game = []
        while i < len(lines) and (m := SERVER_LINE[lang].match(lines[i])):
            game.append((int(m.group(1)), DECISIONS[m.group(2)]))
            i += 1
        assert 1 <= len(game) <= 5
        check_transcript(game, lower, upper, secret)
        if len(game) < 5:
            assert game[-1] == (secret, Decision.CORRECT)
        if strategy == "random" and secret == 3:
            assert game[-1] == (3, Decision.CORRECT)  # 5 distinct guesses of 5
        server_results += game
    client_results = []
    for line in lines[i:]:
        m = CLIENT_LINE[lang].match(line)
        assert m, line
        client_results.append((int(m.group(1)), DECISIONS[m.group(2)]))
    assert client_results == server_results


@pytest.mark.parametrize("strategy", ["smart", "random"])
@pytest.mark.parametrize("lang", list(Lang))
@pytest.mark.parametrize("backend", ["asyncio", "threads"])
def test_demo(backend: str, lang: Lang, strategy: str) -> None:
    run = Run(["demo", "--backend", backend, "--lang", lang.value, "--strategy", strategy])
    assert run.status == 0, run.err
    assert "Traceback" not in run.err
    check_demo(run.out, lang, strategy)


# -- the console script, end to end ----------------------------------------------


def console_script() -> list[str]:
    script = Path(sys.executable).parent / "guessgame"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "guessgame"]


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    return subprocess.run(
        [*console_script(), *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        cwd=ROOT,
        env=env,
    )


@pytest.mark.slow
def test_console_script_demo() -> None:
    done = run_script("demo")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    check_demo(done.stdout, Lang.KO, "smart")


@pytest.mark.slow
def test_console_script_play_against_a_server_process(spawn_server: Any) -> None:
    proc: ServerProcess = spawn_server("--port", "0", "--no-db", "--backend", "threads")
    port = str(proc.address[1])
    done = run_script("play", "--port", port, "--lower", "1", "--upper", "5", "--secret", "3")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == header(1, 5, 3, Lang.KO)
    assert done.stdout.splitlines()[-1] == "클라이언트: 3는 맞음"
    done = run_script(
        "play", "--port", port, "--lower", "10", "--upper", "15", "--secret", "12", "--lang", "en"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "Client: 12 is Correct"
    proc.terminate()
    assert proc.wait(IO_TIMEOUT) == 0
    log = "\n".join(proc.stderr_all)
    assert log.count(" won after ") == 2
    assert "Traceback" not in log
