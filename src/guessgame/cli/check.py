"""``guessgame check``: does a server keep the protocol?"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from typing import Any, TextIO

from ..check import (
    REPLY_TIMEOUT,
    SCENARIOS,
    CheckConfig,
    CheckError,
    CheckResult,
    Row,
    ioi_bound,
    run_check,
)
from ._common import IO, ExitStatus, UserError, isatty, port_arg, positive_float

__all__ = ["FAILED", "add_parser", "format_plain", "run"]

#: Exit status of a check in which a required row failed.
FAILED = 1


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "check",
        help="check that a server keeps the protocol",
        description=(
            "Play a fixed set of scenarios against a running server of the protocol (this "
            "project's, the seed's, the book's, your own port) and print one row per "
            "scenario: whether it passed, and what was seen. The check first finds which "
            "vocabulary the server speaks (the seed's Korean words or the book's English "
            "ones). Required rows are what the seed defines: guesses in range and never "
            "repeated, a new game after PARAMS and after PARAMS 0 -1, the secret repeated "
            "after the win, lines split across writes or several in one, 100 connections "
            "at once. Extension rows (the other vocabulary, CLEAR, Same, the ERROR codes, "
            "the limits) are reported, never required; one row rates the guesser over every "
            "secret of 1..100. Every reply is awaited a few seconds at most, and the whole "
            "check ends within a minute. Exits 0 when every required row passed, 1 when one "
            "failed, 2 on a usage error or when nothing accepts the connection."
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="server address (default 127.0.0.1)")
    p.add_argument("--port", type=port_arg, default=3333, help="server port (default 3333)")
    p.add_argument(
        "--timeout",
        type=positive_float,
        default=REPLY_TIMEOUT,
        metavar="S",
        help=f"seconds a reply (or a connect) is awaited at most (default {REPLY_TIMEOUT:g}); "
        "the whole check ends within a minute whatever it is",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, io: IO) -> int:
    config = CheckConfig(host=args.host, port=args.port, timeout=args.timeout)
    live = isatty(io.stdout) and not args.json
    try:
        with _progress(io.stdout, config, live) as on_start:
            result = run_check(config, on_start=on_start)
    except CheckError as exc:
        raise UserError(str(exc)) from None
    if args.json:
        print(result.to_json(), file=io.stdout, flush=True)
    elif live:
        _print_rich(result, io.stdout)
    else:
        io.stdout.write(format_plain(result))
        io.stdout.flush()
    return ExitStatus.OK if result.passed else FAILED


@contextlib.contextmanager
def _progress(stream: TextIO, config: CheckConfig, live: bool) -> Iterator[Any]:
    """A callback showing the row being played, in a terminal; nothing otherwise."""
    if not live:
        yield None
        return
    from rich.console import Console

    console = Console(file=stream)
    with console.status(f"checking {config.server}", spinner="dots") as status:

        def update(index: int, total: int, name: str) -> None:
            status.update(f"checking {config.server}: {index + 1}/{total} {name}")

        yield update


def _kind(row: Row) -> str:
    if row.required:
        return "required"
    return "rating" if row.name == "guessing" else "extension"


def summary(result: CheckResult) -> str:
    """One line: the verdict, the rows passed by kind, the rating, the time."""
    required = [r for r in result.rows if r.required]
    extensions = [r for r in result.rows if _kind(r) == "extension"]
    verdict = "every required row passed" if result.passed else "a required row FAILED"
    lang = result.lang.value if result.lang is not None else "neither vocabulary"
    rating = result.rating
    size = rating.upper - rating.lower + 1
    guessing = (
        "not rated"
        if rating.worst is None
        else f"worst {rating.worst}, mean {rating.mean:.2f} (IOI bound {ioi_bound(size)})"
    )
    return (
        f"{result.config.server}: {verdict} ({sum(r.passed for r in required)}/{len(required)}); "
        f"extensions {sum(r.passed for r in extensions)}/{len(extensions)}; speaks {lang}; "
        f"guessing {guessing}; {result.seconds:.1f} s"
    )


def format_plain(result: CheckResult) -> str:
    """The rows as aligned plain text, for pipes and files."""
    width = max(len(name) for name in (s.name for s in SCENARIOS))
    lines = [f"check {result.config.server}"]
    for row in result.rows:
        mark = "pass" if row.passed else "FAIL"
        lines.append(f"  {mark}  {_kind(row):<9}  {row.name:<{width}}  {row.detail}")
    lines.append(summary(result))
    return "\n".join(lines) + "\n"


def _print_rich(result: CheckResult, stream: TextIO) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(file=stream)
    table = Table(title=f"check {result.config.server}", title_justify="left")
    table.add_column("row", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("", no_wrap=True)
    table.add_column("what was seen")
    for i, row in enumerate(result.rows):
        if i and row.required != result.rows[i - 1].required:
            table.add_section()
        mark = Text("✓", style="green") if row.passed else Text("✗", style="bold red")
        detail = Text(row.detail, style="dim" if row.passed else "")
        table.add_row(row.name, _kind(row), mark, detail)
    console.print(table)
    style = "bold green" if result.passed else "bold red"
    console.print(Text(summary(result), style=style))
