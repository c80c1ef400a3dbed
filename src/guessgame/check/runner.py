"""Runs the scenarios in order, each bounded in time, and gathers the rows."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..protocol import Lang
from . import extensions, rating, required
from .context import CheckConfig, Context, Rating, Scenario, Shared
from .probe import Failed, Probe, Unreachable

__all__ = ["SCENARIOS", "CheckError", "CheckResult", "Row", "run_check"]

#: Every row, in the order they run: the required ones, the rating, then the
#: extensions (the client that never reads last, as it loads the server most).
SCENARIOS: tuple[Scenario, ...] = (*required.SCENARIOS, rating.SCENARIO, *extensions.SCENARIOS)


class CheckError(Exception):
    """The check could not start: nothing accepts the connection."""


@dataclass(frozen=True, slots=True)
class Row:
    """One scenario's verdict."""

    name: str
    required: bool
    passed: bool
    #: What was seen: on a failure, the one line that says what went wrong.
    detail: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "required": self.required,
            "passed": self.passed,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class CheckResult:
    """Every row; :meth:`to_json` is the ``check --json`` output."""

    config: CheckConfig
    rows: tuple[Row, ...]
    rating: Rating
    #: The vocabulary the server was found to speak (None: neither).
    lang: Lang | None
    seconds: float

    @property
    def passed(self) -> bool:
        """Whether every required row passed."""
        return all(row.passed for row in self.rows if row.required)

    def to_dict(self) -> dict[str, Any]:
        """The keys of SPEC section 7, exactly."""
        r = self.rating
        return {
            "server": self.config.server,
            "passed": self.passed,
            "rows": [row.to_dict() for row in self.rows],
            "guessing": {"lower": r.lower, "upper": r.upper, "worst": r.worst, "mean": r.mean},
        }

    def to_json(self) -> str:
        """One JSON object on one line."""
        return json.dumps(self.to_dict(), ensure_ascii=False)


#: Called before each row with its index (from 0), the number of rows and its name.
StartCallback = Callable[[int, int, str], None]
#: Called after each row with its verdict.
RowCallback = Callable[[Row], None]


def run_check(
    config: CheckConfig,
    on_start: StartCallback | None = None,
    on_row: RowCallback | None = None,
) -> CheckResult:
    """Check the server; :class:`CheckError` if nothing accepts the connection."""
    with asyncio.Runner() as runner:
        return runner.run(_check(config, on_start, on_row))


async def _check(
    config: CheckConfig, on_start: StartCallback | None, on_row: RowCallback | None
) -> CheckResult:
    try:
        first = await Probe.open(config.host, config.port, lang=Lang.KO, timeout=config.timeout)
    except Unreachable as exc:
        raise CheckError(f"cannot connect to {config.server}: {exc.reason}") from None
    await first.close()
    shared = Shared()
    rng = random.Random(config.seed)
    started = time.monotonic()
    deadline = started + config.budget
    rows: list[Row] = []
    for index, scenario in enumerate(SCENARIOS):
        if on_start is not None:
            on_start(index, len(SCENARIOS), scenario.name)
        row = await _run_row(scenario, Context(config, shared, rng), deadline, config.budget)
        rows.append(row)
        if on_row is not None:
            on_row(row)
    return CheckResult(config, tuple(rows), shared.rating, shared.lang, time.monotonic() - started)


async def _run_row(scenario: Scenario, ctx: Context, deadline: float, budget: float) -> Row:
    started = time.monotonic()
    remaining = deadline - started
    if remaining <= 0:
        detail = f"not run: the check's {budget:g} s were used up"
        return Row(scenario.name, scenario.required, False, detail, 0.0)
    limit = min(scenario.cap, remaining)
    passed = False
    try:
        async with asyncio.timeout(limit):
            detail = await scenario.run(ctx)
        passed = True
    except Failed as exc:
        detail = str(exc)
    except TimeoutError:
        if limit < scenario.cap:
            detail = f"cut short: the check's {budget:g} s were used up"
        else:
            detail = f"unfinished after {limit:g} s"
    finally:
        await ctx.close()
    detail = " ".join(detail.splitlines())  # one line, whatever a server sent
    return Row(scenario.name, scenario.required, passed, detail, time.monotonic() - started)
