"""What every scenario of the check gets: its connections, the vocabulary, an
honest game to play."""

from __future__ import annotations

import contextlib
import math
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from ..judge import Judge, params_line
from ..protocol import INT64_MAX, INT64_MIN, Decision, Lang
from .probe import Failed, Guesses, Probe

__all__ = [
    "CheckConfig",
    "Context",
    "Rating",
    "Scenario",
    "Shared",
    "ioi_bound",
    "play",
    "play_out",
    "play_to_win",
    "won_and_repeated",
]

#: Seconds a reply (or a connect) may take: far above any loopback or LAN
#: round trip, short enough that a server that never answers costs little.
REPLY_TIMEOUT = 2.0

#: Seconds the whole check may take: rows not started by then fail as not
#: run, and the row running then is cut short. A minute with room to spare.
CHECK_BUDGET = 50.0


@dataclass(frozen=True, slots=True)
class CheckConfig:
    """Which server to check, and how long anything may take."""

    host: str = "127.0.0.1"
    port: int = 3333
    #: Seconds any single reply (or connect) is awaited.
    timeout: float = REPLY_TIMEOUT
    #: Seconds the whole check may take.
    budget: float = CHECK_BUDGET
    #: Seed of the secrets and ranges the check picks (None: a fresh one).
    seed: int | None = None

    def __post_init__(self) -> None:
        if not self.timeout > 0:
            raise ValueError("timeout must be positive")
        if not self.budget > 0:
            raise ValueError("budget must be positive")

    @property
    def server(self) -> str:
        """``host:port`` (an IPv6 address in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(slots=True)
class Rating:
    """Guesses per game over every secret of ``lower..upper``, honest reports."""

    lower: int = 1
    upper: int = 100
    worst: int | None = None
    mean: float | None = None


@dataclass(slots=True)
class Shared:
    """What one row finds out for the rows after it."""

    #: The vocabulary the server speaks; None until found, or if neither.
    lang: Lang | None = None
    rating: Rating = field(default_factory=Rating)

    @property
    def playing(self) -> Lang:
        """The vocabulary rows play in: the one found, else the seed's."""
        return self.lang if self.lang is not None else Lang.KO


class Context:
    """One row's view of the check: its connections (closed when the row ends)."""

    def __init__(self, config: CheckConfig, shared: Shared, rng: random.Random) -> None:
        self.config = config
        self.shared = shared
        self.rng = rng
        self.probes: list[Probe] = []

    @property
    def lang(self) -> Lang:
        return self.shared.playing

    async def connect(self, lang: Lang | None = None) -> Probe:
        """A new connection to the server, speaking ``lang`` (default: the one found)."""
        probe = await Probe.open(
            self.config.host,
            self.config.port,
            lang=self.lang if lang is None else lang,
            timeout=self.config.timeout,
        )
        self.probes.append(probe)
        return probe

    @contextlib.asynccontextmanager
    async def connection(self, lang: Lang | None = None) -> AsyncIterator[Probe]:
        """:meth:`connect`, closed when the block ends (a server that serves one
        connection at a time serves the next one only then)."""
        probe = await self.connect(lang)
        try:
            yield probe
        finally:
            self.probes.remove(probe)
            await probe.close()

    async def close(self) -> None:
        for probe in self.probes:
            await probe.close()
        self.probes.clear()


#: A scenario: plays against the server, returns the detail of a pass or
#: raises :class:`Failed` with what it saw.
ScenarioFn = Callable[[Context], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class Scenario:
    """One row of the check."""

    name: str
    required: bool
    run: ScenarioFn
    #: Seconds the row may take at most (each reply is bounded besides).
    cap: float = 10.0


def ioi_bound(size: int) -> int:
    """Guesses the IOI 2010 full-score solution needs, the winning one included."""
    return math.floor(math.log2(3 * size)) + 1


async def play(
    probe: Probe,
    lower: int,
    upper: int,
    secret: int,
    *,
    cap: int | None = None,
    what: str = "",
) -> Guesses:
    """An honest game (the seed client's): ``PARAMS``, then ``NUMBER`` and the
    judge's ``REPORT`` until the guess is correct or ``cap`` guesses were made.

    Every guess must be a new number of the range. A cap below the size of
    the range leaves numbers unguessed, so that a ``NUMBER`` after the game
    can never meet an exhausted range (the seed's servers then spin forever).
    """
    assert INT64_MIN <= lower <= secret <= upper <= INT64_MAX
    await probe.send(params_line(lower, upper))
    return await play_out(probe, Guesses(lower, upper, what), Judge(secret), cap=cap)


async def play_out(
    probe: Probe, game: Guesses, judge: Judge, *, guess: int | None = None, cap: int | None = None
) -> Guesses:
    """Go on with a game: report honestly and ask again until the guess is
    correct or ``cap`` guesses were made; ``guess`` is one not yet reported."""
    limit = game.size if cap is None else min(cap, game.size)
    while guess is not None or len(game) < limit:
        if guess is None:
            guess = game.add(await probe.number())
        decision = judge.judge(guess)
        await probe.report(decision)
        if decision is Decision.CORRECT:
            game.won = True
            break
        guess = None
    return game


async def play_to_win(
    probe: Probe,
    lower: int,
    upper: int,
    rng: random.Random,
    *,
    after: int = 0,
    what: str = "",
    tries: int = 4,
) -> tuple[Guesses, int]:
    """Honest games until one is won while ``after`` numbers of the range are
    still unguessed; returns it and its secret.

    A guesser that ignores the reports (the seed's) finds the secret only
    after more than ``size - after`` guesses with odds ``after / size``; the
    game is then left unfinished and a new one (``PARAMS``) begins.
    """
    for _ in range(tries):
        secret = rng.randint(lower, upper)
        game = await play(probe, lower, upper, secret, cap=upper - lower + 1 - after, what=what)
        if game.won:
            return game, secret
    raise Failed(f"{game.what}: no secret guessed in {tries} games of {len(game)} guesses")


async def won_and_repeated(probe: Probe, rng: random.Random, what: str = "") -> Guesses:
    """An honest game over 1..100 won, then ``NUMBER`` must repeat the secret."""
    game, secret = await play_to_win(probe, 1, 100, rng, after=1, what=what)
    again = await probe.number()
    fail_unless(again == secret, f"after the win on {secret}, NUMBER answered {again}")
    return game


def fail_unless(condition: bool, detail: str) -> None:
    """Raise :class:`Failed` with ``detail`` unless ``condition``."""
    if not condition:
        raise Failed(detail)
