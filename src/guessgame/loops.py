"""Choosing the event loop: uvloop where it is installed, asyncio otherwise."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable

__all__ = ["LOOPS", "default_loop", "loop_factory"]

LOOPS = ("uvloop", "asyncio")


def uvloop_available() -> bool:
    return importlib.util.find_spec("uvloop") is not None


def default_loop() -> str:
    """``uvloop`` where it installs (Linux, macOS), else ``asyncio``."""
    return "uvloop" if uvloop_available() else "asyncio"


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """A factory of new event loops of the named kind; ValueError if unusable."""
    if name == "asyncio":
        return asyncio.new_event_loop
    if name == "uvloop":
        if not uvloop_available():
            raise ValueError("uvloop is not installed; use --loop asyncio")
        import uvloop

        return uvloop.new_event_loop
    raise ValueError(f"unknown event loop {name!r}; expected one of {', '.join(LOOPS)}")
