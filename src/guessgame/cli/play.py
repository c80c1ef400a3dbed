"""``guessgame play``: be the client, automatically or as a person."""

from __future__ import annotations

import argparse
from typing import Any

from ..client import Client
from ..judge import ClientError, ServerError
from ..protocol import Decision, ErrorCode, Lang
from ..server import describe_oserror
from ..transcript import client_line, session_header
from ._common import IO, ExitStatus, UserError, add_lang, int64, port_arg, positive_int

__all__ = ["add_parser", "run", "parse_answer"]


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "play",
        help="play against a server as the client",
        description=(
            "Connect to a server and let it guess a number in [LOWER, UPPER]. With "
            "--secret the answers are automatic (the seed's client); without it, think "
            "of a number and answer each guess at the prompt: warmer, colder, unsure "
            "(or same) or correct, in English or Korean (더따뜻함, 더차가움, 잘모르겠음, "
            "맞음), or their first letters. Exits 0 when the secret was found, 1 when "
            "the guesses ran out, 2 on a usage or connection error."
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="server address (default 127.0.0.1)")
    p.add_argument("--port", type=port_arg, default=3333, help="server port (default 3333)")
    p.add_argument("--lower", type=int64, required=True, metavar="L", help="lowest number")
    p.add_argument("--upper", type=int64, required=True, metavar="U", help="highest number")
    p.add_argument("--secret", type=int64, metavar="S", help="the number to find (automatic)")
    p.add_argument(
        "--count",
        type=positive_int,
        metavar="N",
        help="give up after N guesses (default: play until found)",
    )
    add_lang(p, "language of the reports and the transcript")
    p.set_defaults(func=run)


_ANSWERS: dict[str, Decision] = {}
for _decision, _words in {
    Decision.WARMER: ("warmer", "w", "더따뜻함", "따뜻함", "따뜻", "ㄸ"),
    Decision.COLDER: ("colder", "c", "더차가움", "차가움", "차가", "ㅊ"),
    Decision.UNSURE: ("unsure", "u", "same", "s", "잘모르겠음", "모르겠음", "모름", "ㅁ"),
    Decision.CORRECT: ("correct", "y", "yes", "=", "맞음", "맞", "ㅇ"),
}.items():
    for _word in _words:
        _ANSWERS[_word] = _decision


def parse_answer(text: str) -> Decision | None:
    """A person's answer at the prompt, or None if it is not one."""
    return _ANSWERS.get(text.strip().casefold())


def run(args: argparse.Namespace, io: IO) -> int:
    lower, upper, secret, lang = args.lower, args.upper, args.secret, args.lang
    if lower > upper:
        raise UserError(f"--lower {lower} is greater than --upper {upper}")
    if secret is not None and not lower <= secret <= upper:
        raise UserError(f"--secret {secret} is not within [{lower}, {upper}]")
    try:
        client = Client.connect(args.host, args.port, lang=lang)
    except OSError as exc:
        raise UserError(f"cannot connect to {args.host}:{args.port}: {_reason(exc)}") from None
    if secret is not None:
        print(session_header(lower, upper, secret, lang), file=io.stdout, flush=True)
    else:
        print(_think_of(lower, upper, lang), file=io.stdout, flush=True)
    try:
        with client, client.session(lower, upper, secret):
            found = _play(client, args.count, secret is None, io, lang)
    except ServerError as exc:
        if exc.error_code is ErrorCode.NO_CANDIDATES:
            raise UserError(
                f"the server has no guess left: {exc.message}", ExitStatus.NOT_FOUND
            ) from None
        raise UserError(str(exc)) from None
    except ClientError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"connection to {args.host}:{args.port} failed: {_reason(exc)}") from None
    return ExitStatus.OK if found else ExitStatus.NOT_FOUND


def _play(client: Client, count: int | None, interactive: bool, io: IO, lang: Lang) -> bool:
    guesses = 0
    first = True
    while count is None or guesses < count:
        number = client.number()
        guesses += 1
        decision = _ask(number, first, io, lang) if interactive else client.report_outcome(number)
        if interactive:
            client.report(decision)
        first = False
        print(client_line(number, decision, lang), file=io.stdout, flush=True)
        if decision is Decision.CORRECT:
            return True
    return False


def _ask(number: int, first: bool, io: IO, lang: Lang) -> Decision:
    if lang is Lang.EN:
        prompt = f"Server guesses {number}. Warmer, colder, unsure or correct? [w/c/u/y] "
        hint = "the first guess has nothing to compare with: answer unsure or correct"
        again = "answer warmer, colder, unsure (same) or correct (w/c/u/y)"
    else:
        prompt = f"서버의 추측: {number}. 더따뜻함, 더차가움, 잘모르겠음, 맞음? [w/c/u/y] "
        hint = "첫 추측은 비교할 대상이 없습니다: 잘모르겠음 또는 맞음으로 답하세요"
        again = "더따뜻함, 더차가움, 잘모르겠음, 맞음 (w/c/u/y) 중 하나로 답하세요"
    while True:
        io.stdout.write(prompt)
        io.stdout.flush()
        line = io.stdin.readline()
        if not line:
            raise UserError("no answer: standard input ended")
        decision = parse_answer(line)
        if decision is None:
            print(again, file=io.stdout)
        elif first and decision in (Decision.WARMER, Decision.COLDER):
            print(hint, file=io.stdout)
        else:
            return decision


def _think_of(lower: int, upper: int, lang: Lang) -> str:
    if lang is Lang.EN:
        return f"Think of a number between {lower} and {upper}; the server will guess it."
    return f"{lower}와 {upper} 사이의 숫자를 하나 생각하세요. 서버가 맞춰봅니다."


def _reason(exc: OSError) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return describe_oserror(exc)
