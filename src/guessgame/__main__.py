"""``python -m guessgame``."""

from .cli import run

run()
