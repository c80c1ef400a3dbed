"""``guessgame stats``: what the stored games say."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..store import StoreError, default_db_path
from ..store.stats import summarize_db
from ._common import IO, ExitStatus, UserError

__all__ = ["add_parser", "run"]

_COLUMNS = ("games", "wins", "abandoned", "errors", "mean guesses", "max guesses")


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "stats",
        help="summarise the recorded games",
        description=(
            "Summarise the games `guessgame serve` recorded: games, wins, abandoned "
            "and failed games, and the guesses per won game (mean, max) by strategy, "
            "by range size N = upper - lower + 1 in powers of ten, and by how they were "
            "served (asyncio, threads, or web: over the WebSocket of serve --web-port). A database "
            "that does not exist is an error (exit 2), not zero games."
        ),
    )
    p.add_argument(
        "--db",
        metavar="PATH|URL",
        help=f"the database to read: a file (default {default_db_path()}) or a "
        "postgresql://user@host:port/dbname URL",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, io: IO) -> int:
    from ..store.postgres import is_postgres_url, redact

    path: Path | str
    if args.db is not None and is_postgres_url(args.db):
        path = redact(args.db)
        try:
            summary = summarize_db(args.db)
        except StoreError as exc:
            raise UserError(str(exc)) from None
    else:
        path = Path(args.db).expanduser() if args.db is not None else default_db_path()
        try:
            summary = summarize_db(path)
        except StoreError as exc:
            if not path.exists():
                raise UserError(f"{exc}; no games were recorded there yet") from None
            raise UserError(str(exc)) from None
    if args.json:
        io.stdout.write(json.dumps(summary) + "\n")
    elif io.stdout.isatty():
        _print_rich(summary, path, io)
    else:
        io.stdout.write(format_plain(summary, path))
    return ExitStatus.OK


def _cells(group: dict[str, Any]) -> list[str]:
    per_win = group["guesses_per_win"]
    mean = "-" if per_win["mean"] is None else f"{per_win['mean']:.2f}"
    most = "-" if per_win["max"] is None else str(per_win["max"])
    return [str(group["games"]), str(group["wins"]), str(group["abandoned"]),
            str(group["errors"]), mean, most]  # fmt: skip


def _sections(summary: dict[str, Any]) -> list[tuple[str, list[tuple[str, list[str]]]]]:
    return [
        ("strategy", [(name, _cells(g)) for name, g in summary["by_strategy"].items()]),
        ("range size", [(label, _cells(g)) for label, g in summary["by_range"].items()]),
        ("served by", [(name, _cells(g)) for name, g in summary["by_backend"].items()]),
    ]


def format_plain(summary: dict[str, Any], path: Path | str) -> str:
    """The summary as aligned plain text, for pipes and files."""
    lines = [f"database: {path}"]
    header = ["all games", *_cells(summary)]
    for title, rows in _sections(summary):
        if not rows:
            continue
        table = [[f"by {title}", *_COLUMNS], *([name, *cells] for name, cells in rows)]
        if title == "strategy":
            table.append(header)
        widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
        lines.append("")
        for row in table:
            first = row[0].ljust(widths[0])
            rest = (cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=True))
            lines.append("  ".join([first, *rest]))
    if summary["games"] == 0:
        lines.append("no games recorded yet")
    return "\n".join(lines) + "\n"


def _print_rich(summary: dict[str, Any], path: Path | str, io: IO) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(file=io.stdout)
    console.print(f"[bold]database[/bold] {path}")
    if summary["games"] == 0:
        console.print("no games recorded yet")
        return
    for title, rows in _sections(summary):
        table = Table(title=f"by {title}", title_justify="left")
        table.add_column(title, no_wrap=True)
        for column in _COLUMNS:
            table.add_column(column, justify="right")
        for name, cells in rows:
            table.add_row(name, *cells)
        if title == "strategy":
            table.add_section()
            table.add_row("all games", *_cells(summary), style="bold")
        console.print(table)
