"""What the commands share: streams, exit statuses, argument types."""

from __future__ import annotations

import argparse
import enum
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from ..protocol import INT64_MAX, INT64_MIN, Lang

__all__ = [
    "IO",
    "ExitStatus",
    "UserError",
    "add_lang",
    "int64",
    "isatty",
    "lang_arg",
    "port_arg",
    "positive_float",
    "positive_int",
]


class ExitStatus(enum.IntEnum):
    OK = 0
    #: `play`: the guesses ran out before the secret was found.
    NOT_FOUND = 1
    #: A usage, connection or environment error.
    ERROR = 2
    INTERRUPTED = 130


class UserError(Exception):
    """A failure the user can fix: one line on stderr, no traceback."""

    def __init__(self, message: str, status: ExitStatus = ExitStatus.ERROR) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class IO:
    """The standard streams, injectable for tests."""

    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)


def isatty(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal (False for streams without a descriptor)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def int64(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not INT64_MIN <= value <= INT64_MAX:
        raise argparse.ArgumentTypeError(f"outside signed 64-bit: {text}")
    return value


def port_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0..65535: {text}")
    return value


def at_least(low: int) -> Callable[[str], int]:
    """An argparse type: an integer of at least ``low``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}: {text}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


positive_int = at_least(1)
non_negative_int = at_least(0)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number: {text}")
    return value


def lang_arg(text: str) -> Lang:
    try:
        return Lang(text.lower())
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid choice: {text!r} (choose ko or en)") from None


def add_lang(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--lang",
        type=lang_arg,
        default=Lang.KO,
        metavar="{ko,en}",
        help=f"{what}: the seed's Korean (ko, default) or the book's English (en)",
    )
