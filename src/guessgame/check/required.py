"""The required rows: what the seed itself defines (SPEC section 7).

Each scenario plays on connections of its own and never asks for a guess
once a range could be exhausted: the seed's servers spin forever on
``NUMBER`` when every number of the range was guessed.
"""

from __future__ import annotations

import asyncio
import time

from ..judge import Judge, params_line, report_line
from ..protocol import Decision, Lang
from .context import Context, Scenario, fail_unless, play, play_out, play_to_win
from .probe import Failed, Guesses, Probe, shown

__all__ = ["SCENARIOS", "speaks"]

#: Connections of the row that plays on many at once (SPEC section 7).
CONNECTIONS = 100
#: Seconds that row waits for every first reply: a server that serves one
#: connection at a time fails it within this.
CONCURRENT_WAIT = 5.0

END_GAME = b"PARAMS 0 -1\n"


# -- the secret repeated after the win, and the vocabulary -----------------------


async def speaks(ctx: Context, lang: Lang) -> str:
    """Whether the server takes ``lang``'s words: it repeats the secret after
    the winning report. Returns what was seen; :class:`Failed` if not.

    The game is honest: the first guess is reported unsure, the second is
    the secret. Four guesses at most in 1..100, so no range runs out even
    for a server that did not understand the winning word.
    """
    async with ctx.connection(lang) as probe:
        game = Guesses(1, 100, f"{lang.value} game 1..100")
        await probe.send(params_line(1, 100))
        game.add(await probe.number())
        await probe.report(Decision.UNSURE)
        secret = game.add(await probe.number())
        await probe.report(Decision.CORRECT)
        again = [await probe.number(), await probe.number()]
    correct = Decision.CORRECT.token(lang)
    fail_unless(
        again == [secret, secret],
        f"after REPORT {correct} on {secret}, NUMBER answered {again[0]} then {again[1]}",
    )
    return f"REPORT {correct} on {secret}, then NUMBER answered {secret}, {secret}"


async def secret_repeated(ctx: Context) -> str:
    """Find the vocabulary: the seed's Korean words first, then the book's English."""
    seen: list[str] = []
    for lang in (Lang.KO, Lang.EN):
        try:
            detail = await speaks(ctx, lang)
        except Failed as exc:
            seen.append(f"{lang.value}: {exc}")
            continue
        ctx.shared.lang = lang
        return f"speaks {lang.value}: {detail}"
    raise Failed("in neither vocabulary: " + "; ".join(seen))


# -- every guess in range and new ---------------------------------------------------

#: (lower, upper, secret or None for a random one, most guesses or None for all).
_HONEST_GAMES: list[tuple[int, int, int | None, int | None]] = [
    (1, 5, 3, None),  # the seed's two games
    (10, 15, 12, None),
    (7, 7, 7, None),
    (1, 2, None, None),
    (-50, 50, None, None),
    (-1000, -901, None, None),
    (1, 100, 1, None),
    (1, 100, 100, None),
    *[(1, 100, None, None)] * 10,
    *[(0, 10**9, None, 50)] * 3,
    *[(-(10**15), 10**15, None, 50)] * 2,
]


async def guesses_honest(ctx: Context) -> str:
    """Games with honest reports, each on a new connection: every guess in
    range and new, and every small game won."""
    guesses = capped = 0
    for lower, upper, secret, cap in _HONEST_GAMES:
        if secret is None:
            secret = ctx.rng.randint(lower, upper)
        async with ctx.connection() as probe:
            game = await play(probe, lower, upper, secret, cap=cap)
        guesses += len(game)
        if cap is not None and not game.won:
            capped += 1
        # Honest reports and no repeats: the secret is found by the last number.
        fail_unless(game.won or cap is not None, f"{game.what}: secret {secret} never guessed")
    return f"{len(_HONEST_GAMES)} games, {guesses:,} guesses: all in range, none repeated" + (
        f" ({capped} wide games stopped after 50 guesses)" if capped else ""
    )


#: (lower, upper, guesses asked): never more than half the range.
_UNHELPFUL_GAMES = [(1, 10, 5), (1, 100, 50), (-100, 100, 100), (1, 10**6, 200), (0, 2**40, 100)]


async def guesses_unhelpful(ctx: Context) -> str:
    """Games whose reports tell nothing: the first guess reported unsure, the
    rest never reported (a guess never reported carries no information)."""
    total = 0
    for lower, upper, count in _UNHELPFUL_GAMES:
        async with ctx.connection() as probe:
            game = Guesses(lower, upper, f"game {lower}..{upper}, reports withheld")
            await probe.send(params_line(lower, upper))
            game.add(await probe.number())
            await probe.report(Decision.UNSURE)
            while len(game) < count:
                game.add(await probe.number())
        total += len(game)
    return (
        f"{len(_UNHELPFUL_GAMES)} games, {total:,} guesses, only the first reported: "
        "all in range, none repeated"
    )


# -- new games -------------------------------------------------------------------------


async def new_game_after_params(ctx: Context) -> str:
    """``PARAMS`` mid-game and after a win starts a new game over the new range."""
    async with ctx.connection() as probe:
        partial = await play(probe, 1, 100, ctx.rng.randint(1, 100), cap=3, what="game 1..100")
        await play(probe, 200, 300, ctx.rng.randint(200, 300), what="game 200..300 after PARAMS")
        await play(probe, 1, 5, 3, what="game 1..5")
        await play(probe, 10, 15, 12, what="game 10..15 after a won game")
    return (
        f"PARAMS after {len(partial)} guesses and after a win: each next game "
        "guessed only in its new range, and was won"
    )


async def new_game_after_end(ctx: Context) -> str:
    """The seed's client: each session ends with ``PARAMS 0 -1``, the next begins."""
    games = [(1, 5, 3), (10, 15, 12), (1, 100, ctx.rng.randint(1, 100)), (-5, 5, -5)]
    async with ctx.connection() as probe:
        for i, (lower, upper, secret) in enumerate(games):
            game = await play(probe, lower, upper, secret)
            fail_unless(game.won, f"{game.what}: secret {secret} never guessed")
            await probe.send(END_GAME)
            if i == 2:
                await probe.send(END_GAME)  # ending when no game is active
    return (
        f"{len(games)} games on one connection, each won and ended with PARAMS 0 -1 "
        "(the seed's sessions 1..5 and 10..15 first)"
    )


# -- framing ---------------------------------------------------------------------------


async def split_writes(ctx: Context) -> str:
    """Every line in several writes a few milliseconds apart, the seed's Korean
    words cut inside a character."""
    rng = ctx.rng

    def cut(line: bytes) -> list[bytes]:
        inner = list(range(1, len(line) - 1))
        points = sorted({*rng.sample(inner, min(2, len(inner))), len(line) - 1})
        return [line[a:b] for a, b in zip([0, *points], [*points, len(line)], strict=True)]

    async with ctx.connection() as probe:
        probe.split = cut
        game, secret = await play_to_win(probe, 1, 100, rng, what="game 1..100 in pieces")
        await probe.send(END_GAME)
        second = await play(probe, -3, 3, 0, what="game -3..3 in pieces")
        fail_unless(second.won, f"{second.what}: secret 0 never guessed")
    return (
        f"2 games won ({len(game) + len(second)} guesses), every line in 3 writes "
        f"{probe.pause * 1000:g} ms apart"
    )


async def lines_in_one_write(ctx: Context) -> str:
    """Several commands in one write: each is answered, in order."""
    lang = ctx.lang
    correct = report_line(Decision.CORRECT, lang)
    async with ctx.connection() as probe:
        writes = lines = 0

        async def write(data: bytes) -> None:
            nonlocal writes, lines
            writes += 1
            lines += data.count(b"\n")
            await probe.send(data)

        game = Guesses(1, 100, "game 1..100")
        await write(params_line(1, 100) + b"NUMBER\nNUMBER\nNUMBER\n")
        first = [game.add(await probe.read_number()) for _ in range(3)]
        # Honest from here, the unreported first two excluded from the secrets.
        secret = ctx.rng.choice([n for n in range(1, 101) if n not in first[:2]])
        judge, guess = Judge(secret), first[2]
        while len(game) < 40:
            decision = judge.judge(guess)
            if decision is Decision.CORRECT:
                break
            await write(report_line(decision, lang) + b"NUMBER\n")
            guess = game.add(await probe.read_number())
        game = Guesses(10, 15, "game 10..15")
        await write(END_GAME + params_line(10, 15) + b"NUMBER\n")
        secret = game.add(await probe.read_number())
        await write(correct + b"NUMBER\nNUMBER\n")
        again = [await probe.read_number(), await probe.read_number()]
        fail_unless(
            again == [secret, secret],
            f"after {shown(correct)} on {secret} and two NUMBERs in one write: "
            f"{again[0]} and {again[1]}",
        )
        game = Guesses(1, 5, "game 1..5")
        await write(
            params_line(1, 5) + b"NUMBER\n" + report_line(Decision.UNSURE, lang) + b"NUMBER\n"
        )
        game.add(await probe.read_number())
        game.add(await probe.read_number())
    return f"{lines} lines in {writes} writes, up to 4 a write: every reply in order and valid"


# -- many connections at once -----------------------------------------------------------


async def many_connections(ctx: Context) -> str:
    """:data:`CONNECTIONS` clients at once: all connected and each answered its
    first ``NUMBER`` before any closes; then each plays its game to the win."""
    count = CONNECTIONS
    probes: list[Probe | None] = [None] * count
    games: list[Guesses | None] = [None] * count
    started = time.monotonic()

    async def first(i: int) -> None:
        probe = probes[i] = await ctx.connect()
        game = games[i] = Guesses(1, 100, f"connection {i + 1}'s game 1..100")
        await probe.send(params_line(1, 100))
        game.add(await probe.number())

    tasks = [asyncio.ensure_future(first(i)) for i in range(count)]
    done, pending = await asyncio.wait(tasks, timeout=CONCURRENT_WAIT)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    answered = [t for t in done if t.exception() is None]
    if len(answered) < count:
        connected = sum(p is not None for p in probes)
        seen = next(
            (str(t.exception()) for t in done if isinstance(t.exception(), Failed)),
            f"no reply within {CONCURRENT_WAIT:g} s",
        )
        raise Failed(
            f"{len(answered)} of {count} connections answered their first NUMBER "
            f"({connected} connected); one that did not: {seen}"
        )
    waited = time.monotonic() - started

    async def finish(i: int) -> int:
        probe, game = probes[i], games[i]
        assert probe is not None and game is not None
        judge, [guess] = Judge(ctx.rng.randint(1, 100)), game.order
        return len(await play_out(probe, game, judge, guess=guess))

    guesses = await asyncio.gather(*(finish(i) for i in range(count)))
    return (
        f"{count} connections answered their first NUMBER within {waited:.2f} s, "
        f"then won their games ({sum(guesses):,} guesses)"
    )


SCENARIOS = (
    Scenario("secret-repeated", True, secret_repeated),
    Scenario("guesses-honest", True, guesses_honest),
    Scenario("guesses-unhelpful", True, guesses_unhelpful),
    Scenario("new-game-params", True, new_game_after_params),
    Scenario("new-game-end", True, new_game_after_end),
    Scenario("split-writes", True, split_writes),
    Scenario("lines-in-one-write", True, lines_in_one_write),
    Scenario("100-connections", True, many_connections, cap=15.0),
)
