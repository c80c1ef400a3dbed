"""The extension rows: what SPEC section 1 adds to the seed, reported and never
required. The seed's servers fail most of them (an unknown line raises in
their session loop, which closes the connection); each row says what it saw.

Like the required rows, none asks for a guess once a range could be exhausted.
"""

from __future__ import annotations

import asyncio
import socket
import time

from ..judge import Judge, params_line
from ..protocol import (
    DEFAULT_MAX_GUESSES,
    DEFAULT_MAX_LINE,
    INT64_MAX,
    INT64_MIN,
    Decision,
    ErrorCode,
    Lang,
)
from .context import Context, Scenario, fail_unless, play, won_and_repeated
from .probe import Failed, Guesses, Probe
from .required import END_GAME, speaks

__all__ = ["SCENARIOS"]

#: Seconds the never-reading client sends for at most.
FLOOD_SECONDS = 6.0
#: Seconds without the server taking a byte that count as "stopped reading".
FLOOD_STALL = 1.0
#: A reply slower than this, to the client that plays beside the flood, is
#: not "milliseconds" (SPEC section 1, fair turns).
FAIR_LATENCY = 1.0


def _other(lang: Lang) -> Lang:
    return Lang.EN if lang is Lang.KO else Lang.KO


async def _pending_guess(probe: Probe, lower: int = 1, upper: int = 100) -> int:
    """A game with one unreported guess; returns the guess."""
    await probe.send(params_line(lower, upper))
    return Guesses(lower, upper).add(await probe.number())


async def _still_pending(probe: Probe, guess: int) -> None:
    """The game and its unreported guess survived: the guess can be reported
    as the secret, and NUMBER then repeats it."""
    await probe.report(Decision.CORRECT)
    again = await probe.number()
    fail_unless(
        again == guess,
        f"the game did not survive the error: after REPORT {Decision.CORRECT.token(probe.lang)} "
        f"on the pending guess {guess}, NUMBER answered {again}",
    )


async def _errors(probe: Probe, lines: list[bytes], code: ErrorCode) -> None:
    for line in lines:
        await probe.send(line)
        await probe.expect_error(code)


# -- vocabularies and words ---------------------------------------------------------


async def other_vocabulary(ctx: Context) -> str:
    """The vocabulary the server was not found to speak first, in a whole game."""
    if ctx.shared.lang is None:
        raise Failed("the server took neither vocabulary's winning word (see secret-repeated)")
    other = _other(ctx.shared.lang)
    await speaks(ctx, other)
    async with ctx.connection(other) as probe:
        game = await won_and_repeated(probe, ctx.rng)
    return f"{other.value} too: a game won in {len(game)} guesses, then the secret repeated"


async def clear(ctx: Context) -> str:
    """``CLEAR`` ends the game, as ``PARAMS 0 -1`` does; a new game follows."""
    async with ctx.connection() as probe:
        await _pending_guess(probe)
        await probe.send(b"CLEAR\n")
        await probe.send(b"NUMBER\n")
        await probe.expect_error(ErrorCode.NO_GAME)
        await play(probe, 1, 5, 3, what="game 1..5")
        await probe.send(b"CLEAR\n")
        game = await play(probe, 10, 15, 12, what="game 10..15 after CLEAR")
        fail_unless(game.won, f"{game.what}: secret 12 never guessed")
    return "CLEAR mid-game and after a win: NUMBER then answered no-game, PARAMS a new game"


async def same(ctx: Context) -> str:
    """``REPORT Same`` (the 3rd edition's word) for a guess as far from the
    secret as the previously reported one."""
    async with ctx.connection() as probe:
        game = Guesses(1, 100, "game 1..100")
        await probe.send(params_line(1, 100))
        first = game.add(await probe.number())
        await probe.report(Decision.UNSURE)
        # The secret is the middle of the first guess and a later one: both
        # are then as far from it. Guesses that do not fit stay unreported.
        while True:
            fail_unless(len(game) < 30, f"{game.what}: no two guesses with a middle in 30")
            guess = game.add(await probe.number())
            middle, odd = divmod(first + guess, 2)
            if not odd and middle not in game.order:
                break
        judge = Judge(middle)
        judge.judge(first)
        await probe.send(b"REPORT Same\n")
        sames = 1
        while len(game) < game.size - 1:
            guess = game.add(await probe.number())
            decision = judge.judge(guess)
            if decision is Decision.UNSURE:
                sames += 1
                await probe.send(b"REPORT Same\n")
            else:
                await probe.report(decision)
            if decision is Decision.CORRECT:
                again = await probe.number()
                fail_unless(again == middle, f"after the win on {middle}, NUMBER answered {again}")
                return f"{sames} REPORT Same taken; the game was won in {len(game)} guesses"
    return f"{sames} REPORT Same taken (the game was not won in {len(game)} guesses)"


def _crlf(line: bytes) -> list[bytes]:
    return [line[:-1] + b"\r\n"]


async def crlf(ctx: Context) -> str:
    """Lines ending in ``\\r\\n``: the ``\\r`` is ignored."""
    async with ctx.connection() as probe:
        probe.split = _crlf
        game = await won_and_repeated(probe, ctx.rng)
    return f"a game won in {len(game)} guesses, every line ending in \\r\\n"


async def spacing_and_case(ctx: Context) -> str:
    """Command words in any case, tokens separated by runs of spaces and tabs,
    English decision words in any case."""
    rng = ctx.rng
    spaces = [b" ", b"  ", b"\t", b" \t "]

    def mangle(line: bytes) -> list[bytes]:
        words = line.split()
        command = words[0].decode()
        words[0] = "".join(c.lower() if rng.random() < 0.5 else c for c in command).encode()
        if len(words) == 2 and words[0].upper() == b"REPORT":
            words[1] = rng.choice([words[1].lower(), words[1].upper(), words[1]])
        out = rng.choice([b"", b" ", b"\t"])
        for i, word in enumerate(words):
            out += (rng.choice(spaces) if i else b"") + word
        return [out + rng.choice([b"", b" ", b"\t "]) + b"\n"]

    async with ctx.connection() as probe:
        probe.split = mangle
        game = await won_and_repeated(probe, ctx.rng)
    return f"a game won in {len(game)} guesses, every line re-spaced and re-cased"


async def empty_line(ctx: Context) -> str:
    """An empty (or blank) line is ignored without a reply."""
    async with ctx.connection() as probe:
        game = Guesses(1, 100)
        await probe.send(b"\n")
        await probe.send(params_line(1, 100))
        game.add(await probe.number())
        await probe.send(b"  \t \n")
        await probe.report(Decision.UNSURE)
        await probe.send(b"\r\n")
        game.add(await probe.number())
    return "empty and blank lines got no reply; the game went on"


async def bounds_64_bit(ctx: Context) -> str:
    """Ranges at the ends of signed 64-bit, the widest of them included."""
    async with ctx.connection() as probe:
        wide = Guesses(INT64_MIN, INT64_MAX, "game over all of signed 64-bit")
        await probe.send(params_line(INT64_MIN, INT64_MAX))
        wide.add(await probe.number())
        await probe.report(Decision.UNSURE)
        for _ in range(19):
            wide.add(await probe.number())
        await play(probe, INT64_MAX, INT64_MAX, INT64_MAX)
        again = await probe.number()
        fail_unless(again == INT64_MAX, f"game {INT64_MAX}..{INT64_MAX}: NUMBER answered {again}")
        low = await play(probe, INT64_MIN, INT64_MIN + 9, INT64_MIN)
        fail_unless(low.won, f"{low.what}: secret {INT64_MIN} never guessed")
        secret = ctx.rng.randint(INT64_MIN, INT64_MAX)
        game = await play(probe, INT64_MIN, INT64_MAX, secret, cap=70)
    won = "won" if game.won else "not won"
    return f"20 guesses unreported, an honest game ({won} in {len(game)}), one-number ranges"


# -- the ERROR table -------------------------------------------------------------------


async def unknown_command(ctx: Context) -> str:
    async with ctx.connection() as probe:
        guess = await _pending_guess(probe)
        await _errors(probe, [b"HELLO\n", b"GUESS 5\n", b"PARAM 1 5\n"], ErrorCode.UNKNOWN_COMMAND)
        await _still_pending(probe, guess)
    return "3 unknown commands answered unknown-command; the game went on"


_BAD_PARAMS = [
    b"PARAMS 1\n",
    b"PARAMS 1 2 3\n",
    b"PARAMS one 5\n",
    b"PARAMS 1.5 3\n",
    b"PARAMS 1 9223372036854775808\n",
    b"PARAMS -9223372036854775809 1\n",
    b"NUMBER 5\n",
    b"REPORT\n",
    b"CLEAR x\n",
]


async def bad_params(ctx: Context) -> str:
    async with ctx.connection() as probe:
        guess = await _pending_guess(probe)
        await _errors(probe, _BAD_PARAMS, ErrorCode.BAD_PARAMS)
        await _still_pending(probe, guess)
    return f"{len(_BAD_PARAMS)} malformed commands answered bad-params; the game went on"


async def no_game(ctx: Context) -> str:
    async with ctx.connection() as probe:
        await probe.send(b"NUMBER\n")
        await probe.expect_error(ErrorCode.NO_GAME)
        await probe.report(Decision.UNSURE)
        await probe.expect_error(ErrorCode.NO_GAME)
        await probe.send(params_line(1, 100) + END_GAME)
        await probe.send(b"NUMBER\n")
        await probe.expect_error(ErrorCode.NO_GAME)
        await _pending_guess(probe)
    return "NUMBER and REPORT before any game and after PARAMS 0 -1: no-game"


async def no_guess(ctx: Context) -> str:
    async with ctx.connection() as probe:
        game = Guesses(1, 100)
        await probe.send(params_line(1, 100))
        await probe.report(Decision.UNSURE)
        await probe.expect_error(ErrorCode.NO_GUESS)
        game.add(await probe.number())
        await probe.report(Decision.UNSURE)
        await probe.report(Decision.UNSURE)
        await probe.expect_error(ErrorCode.NO_GUESS)
        await _still_pending(probe, game.add(await probe.number()))
    return "REPORT before any NUMBER and a second REPORT for one guess: no-guess"


async def bad_report(ctx: Context) -> str:
    async with ctx.connection() as probe:
        guess = await _pending_guess(probe)
        await _errors(probe, [b"REPORT Hotter\n", b"REPORT 42\n"], ErrorCode.BAD_REPORT)
        await _still_pending(probe, guess)
    return "unknown decisions answered bad-report; the guess could still be reported"


async def no_candidates(ctx: Context) -> str:
    """Reports that no secret fits: each guess as far from it as the one before.
    After three of them nothing fits; a range of 100 never runs out."""
    async with ctx.connection() as probe:
        game = Guesses(1, 100)
        await probe.send(params_line(1, 100))
        for _ in range(2):
            game.add(await probe.number())
            await probe.report(Decision.UNSURE)
        reports = 2
        # Two unsure guesses leave at most their middle; a third leaves nothing.
        await probe.send(b"NUMBER\n")
        reply = await probe.number_or_error()
        if isinstance(reply, int):
            game.add(reply)
            await probe.report(Decision.UNSURE)
            reports = 3
            await probe.send(b"NUMBER\n")
            reply = await probe.number_or_error()
        if isinstance(reply, int):
            raise Failed(
                f"after {reports} reports that no secret fits (each guess unsure: as far "
                f"as the one before), NUMBER answered {reply}"
            )
        fail_unless(
            reply.split()[:2] == ["ERROR", "no-candidates"],
            f"after {reports} reports that no secret fits, NUMBER answered {reply!r}",
        )
        await probe.send(b"NUMBER\n")
        await probe.expect_error(ErrorCode.NO_CANDIDATES)
        await _pending_guess(probe)
    return f"after {reports} contradictory reports NUMBER answered no-candidates, twice"


async def bad_encoding(ctx: Context) -> str:
    async with ctx.connection() as probe:
        guess = await _pending_guess(probe)
        await _errors(probe, [b"REPORT \xff\xfe\n", b"\xc3\x28\n"], ErrorCode.BAD_ENCODING)
        await _still_pending(probe, guess)
    return "2 lines of invalid UTF-8 answered bad-encoding; the game went on"


async def line_too_long(ctx: Context) -> str:
    """A complete line over the limit, then one without an end: ``ERROR
    line-too-long`` and the connection closes, without waiting for a newline."""
    long = b"PARAMS 1 " + b"0" * (DEFAULT_MAX_LINE + 100) + b"100\n"
    async with ctx.connection() as probe:
        await _pending_guess(probe)
        await probe.send(long + b"NUMBER\n")
        await probe.expect_error(ErrorCode.LINE_TOO_LONG)
        await probe.expect_close()
    async with ctx.connection() as probe:
        await _pending_guess(probe)
        await probe.send(b"REPORT " + b"x" * 2 * DEFAULT_MAX_LINE)
        await probe.expect_error(ErrorCode.LINE_TOO_LONG)
        await probe.expect_close()
    return (
        f"a {len(long) - 1:,}-byte line, and {2 * DEFAULT_MAX_LINE + 7:,} bytes without "
        "a line end: line-too-long, then the connection closed"
    )


async def too_many_guesses(ctx: Context) -> str:
    """``--max-guesses`` (1000) guesses with unhelpful reports, then one more."""
    async with ctx.connection() as probe:
        game = Guesses(1, 10**15, "game 1..10^15")
        await probe.send(params_line(1, 10**15))
        game.add(await probe.number())
        await probe.report(Decision.UNSURE)
        while len(game) < DEFAULT_MAX_GUESSES:
            last = game.add(await probe.number())
        await probe.send(b"NUMBER\n")
        await probe.expect_error(ErrorCode.TOO_MANY_GUESSES)
        await _still_pending(probe, last)
        await _pending_guess(probe)
    return (
        f"NUMBER {DEFAULT_MAX_GUESSES + 1:,}: too-many-guesses; the last guess could still "
        "win, and PARAMS began a new game"
    )


# -- a client that never reads --------------------------------------------------------


async def never_reads(ctx: Context) -> str:
    """One client sends NUMBER after NUMBER and never reads: the server stops
    reading it, while another client plays with replies in milliseconds."""
    flood = await ctx.connect()
    sock = flood.writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    # A won game: each NUMBER repeats the secret (no new guess, no growing
    # state), a 20-digit one to fill the server's buffers quickly.
    secret = await _pending_guess(flood, INT64_MIN, INT64_MIN + 10**6)
    await _still_pending(flood, secret)
    player = await ctx.connect()

    async def play_on() -> None:
        while True:
            game = await play(player, 1, 100, ctx.rng.randint(1, 100))
            fail_unless(game.won, f"{game.what}: never won")
            await player.send(END_GAME)

    transport = flood.writer.transport
    chunk = b"NUMBER\n" * 8192
    sent = taken = last_taken = 0
    started = last_progress = time.monotonic()
    closed = False
    playing = asyncio.ensure_future(play_on())
    try:
        while True:
            await asyncio.sleep(0.05)
            if playing.done():
                playing.result()  # raises what the player saw
            slowest = max(player.slowest, player.waiting)
            fail_unless(
                slowest < FAIR_LATENCY,
                f"a client playing beside it waited {slowest:.2f} s for a reply",
            )
            if transport.is_closing():
                closed = True
                break
            while transport.get_write_buffer_size() < 4 * len(chunk):
                transport.write(chunk)
                sent += len(chunk)
            taken = sent - transport.get_write_buffer_size()
            now = time.monotonic()
            if taken > last_taken:
                last_taken, last_progress = taken, now
            elif now - last_progress >= FLOOD_STALL and player.replies:
                break
            if now - started > FLOOD_SECONDS:
                fail_unless(player.replies > 0, "the client playing beside it got no reply")
                raise Failed(
                    f"the server kept reading the client that never reads: "
                    f"{taken / 1e6:,.1f} MB of NUMBER lines in {FLOOD_SECONDS:g} s"
                )
    finally:
        playing.cancel()
        await asyncio.gather(playing, return_exceptions=True)
        flood.abort()
    how = "closed it" if closed else "stopped reading it"
    return (
        f"the server {how} after {last_taken / 1e6:,.1f} MB; a client playing beside it "
        f"got {player.replies:,} replies meanwhile, the slowest in {slowest * 1000:.0f} ms"
    )


SCENARIOS = (
    Scenario("other-vocabulary", False, other_vocabulary),
    Scenario("clear", False, clear),
    Scenario("same", False, same),
    Scenario("crlf", False, crlf),
    Scenario("spacing-and-case", False, spacing_and_case),
    Scenario("empty-line", False, empty_line),
    Scenario("64-bit-bounds", False, bounds_64_bit),
    Scenario("error-unknown-command", False, unknown_command),
    Scenario("error-bad-params", False, bad_params),
    Scenario("error-no-game", False, no_game),
    Scenario("error-no-guess", False, no_guess),
    Scenario("error-bad-report", False, bad_report),
    Scenario("error-no-candidates", False, no_candidates),
    Scenario("error-bad-encoding", False, bad_encoding),
    Scenario("error-line-too-long", False, line_too_long),
    Scenario("error-too-many-guesses", False, too_many_guesses),
    Scenario("never-reads", False, never_reads, cap=FLOOD_SECONDS + 4.0),
)
