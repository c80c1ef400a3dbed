"""The guesser's rating: every secret of 1..100 with honest reports."""

from __future__ import annotations

from .context import Context, Scenario, fail_unless, ioi_bound, play
from .probe import Failed
from .required import END_GAME

__all__ = ["RANDOM_MEAN", "RANDOM_WORST", "SCENARIO"]

#: The seed's random guesser over 1..100: (N + 1) / 2 guesses on average, and
#: nearly N for the unluckiest of 100 secrets.
RANDOM_MEAN = 50.5
RANDOM_WORST = 100


async def guessing(ctx: Context) -> str:
    """One game for each secret of the range, on one connection as the seed's
    client plays (``PARAMS``, the game, ``PARAMS 0 -1``); the winning guess
    counts. Reported, never required: it passes within the IOI bound."""
    rating = ctx.shared.rating
    lower, upper = rating.lower, rating.upper
    counts: list[int] = []
    async with ctx.connection() as probe:
        for secret in range(lower, upper + 1):
            try:
                game = await play(probe, lower, upper, secret, what=f"secret {secret}")
            except Failed as exc:
                raise Failed(f"no rating: {exc}") from None
            await probe.send(END_GAME)
            counts.append(len(game))
    rating.worst = max(counts)
    rating.mean = round(sum(counts) / len(counts), 2)
    bound = ioi_bound(upper - lower + 1)
    detail = (
        f"worst {rating.worst}, mean {rating.mean:.2f} guesses over the secrets "
        f"{lower}..{upper}; the seed's random guesser: about {RANDOM_MEAN:g} and "
        f"{RANDOM_WORST}; the IOI bound: {bound}"
    )
    fail_unless(rating.worst <= bound, detail)
    return detail


SCENARIO = Scenario("guessing", False, guessing, cap=25.0)
