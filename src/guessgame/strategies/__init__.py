"""Guessing strategies: how the server picks its next number."""

from __future__ import annotations

from .base import Strategy, StrategyFactory, no_candidates
from .random_strategy import RandomStrategy
from .smart import SmartStrategy

__all__ = [
    "DEFAULT_STRATEGY",
    "STRATEGIES",
    "RandomStrategy",
    "SmartStrategy",
    "Strategy",
    "StrategyFactory",
    "no_candidates",
]

#: Strategies by the name `serve --strategy` takes.
STRATEGIES: dict[str, StrategyFactory] = {
    "random": RandomStrategy,
    "smart": SmartStrategy,
}

DEFAULT_STRATEGY = "smart"
