"""The ``guessgame`` command line: a layer over the library.

:func:`main` maps every known failure to an exit status and one line on
stderr; a traceback is printed only with ``--debug``. Each command lives in
a module of this package with ``add_parser(subparsers)`` and a
``run(args, io) -> int``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
from collections.abc import Sequence

from . import bench, check, demo, play, serve, stats
from ._common import IO, ExitStatus, UserError

__all__ = ["ExitStatus", "IO", "UserError", "main", "run"]

COMMANDS = (serve, play, demo, stats, bench, check)


class _Parser(argparse.ArgumentParser):
    """Writes usage errors to the injected stderr."""

    io: IO

    def _print_message(self, message: str, file: object = None) -> None:
        if message:
            stream = self.io.stderr if file is sys.stderr else self.io.stdout
            stream.write(message)


def build_parser(io: IO) -> argparse.ArgumentParser:
    _Parser.io = io
    parser = _Parser(
        prog="guessgame",
        description=(
            "The TCP number-guessing game of Effective Python (Item 61): the server "
            "guesses, the client holds the secret and answers warmer, colder, unsure "
            "or correct. Start with `guessgame demo`."
        ),
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")
    parser.add_argument(
        "--version", action="version", version=f"guessgame {version()}", help="print the version"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def version() -> str:
    """The installed distribution's version (the package's own when not installed)."""
    try:
        return importlib.metadata.version("guessgame")
    except importlib.metadata.PackageNotFoundError:
        from .. import __version__

        return __version__


def main(argv: Sequence[str] | None = None, io: IO | None = None) -> int:
    """Run the command line; returns the exit status."""
    io = io or IO()
    parser = build_parser(io)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    try:
        return int(args.func(args, io))
    except UserError as exc:
        io.stderr.write(f"guessgame: {exc}\n")
        return int(exc.status)
    except KeyboardInterrupt:
        io.stderr.write("guessgame: interrupted\n")
        return ExitStatus.INTERRUPTED
    except Exception as exc:
        if args.debug:
            raise
        io.stderr.write(f"guessgame: unexpected error: {exc!r} (run with --debug for details)\n")
        return ExitStatus.ERROR


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
