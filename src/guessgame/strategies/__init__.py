"""Guessing strategies: how the server picks its next number."""

from __future__ import annotations

from .base import Strategy, StrategyFactory, no_candidates
from .random_strategy import RandomStrategy

__all__ = [
    "DEFAULT_STRATEGY",
    "STRATEGIES",
    "RandomStrategy",
    "Strategy",
    "StrategyFactory",
    "no_candidates",
]

#: Strategies by the name `serve --strategy` takes.
STRATEGIES: dict[str, StrategyFactory] = {
    "random": RandomStrategy,
    # Until the feedback-driven guesser lands, "smart" plays as "random".
    "smart": RandomStrategy,
}

DEFAULT_STRATEGY = "smart"
