"""``guessgame check``: does a server keep the protocol?

A client of the protocol, like :mod:`guessgame.bench`, for any server of it
(the seed's, the book's, a reader's own port, this project's): it finds
which vocabulary the server speaks, then plays a fixed set of scenarios,
each on connections of its own and bounded in time, and rates the guesser.
Required rows are what the seed defines; the others are SPEC section 1's
extensions, reported and never required (SPEC section 7).

>>> result = run_check(CheckConfig(port=3333))
>>> result.passed, [row.name for row in result.rows if not row.passed]

Modules: :mod:`.probe` (a connection with bounded waits), :mod:`.context`
(what a scenario gets, honest games), :mod:`.required`, :mod:`.rating`,
:mod:`.extensions` (the scenarios), :mod:`.runner` (order, time, result).
"""

from .context import CHECK_BUDGET, REPLY_TIMEOUT, CheckConfig, Rating, ioi_bound
from .runner import SCENARIOS, CheckError, CheckResult, Row, run_check

__all__ = [
    "CHECK_BUDGET",
    "REPLY_TIMEOUT",
    "SCENARIOS",
    "CheckConfig",
    "CheckError",
    "CheckResult",
    "Rating",
    "Row",
    "ioi_bound",
    "run_check",
]
