"""``guessgame bench``: closed-loop load against a running server."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from typing import Any, TextIO

from ..bench import BenchConfig, BenchError, BenchResult, ErrorKind, Progress, run_bench
from ..loops import LOOPS, default_loop
from ._common import (
    IO,
    ExitStatus,
    UserError,
    add_lang,
    int64,
    isatty,
    port_arg,
    positive_float,
    positive_int,
)

__all__ = ["add_parser", "run", "ERRORS_SEEN"]

#: Exit status of a run that completed but counted errors.
ERRORS_SEEN = 1


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "bench",
        help="load a running server with many concurrent players",
        description=(
            "Closed-loop load generator: C connections each play games back to back "
            "against a running server (any server of the protocol, a seed server "
            "included) with a random secret and honest reports, checking every reply. "
            "Prints games/s, round trips/s (NUMBER and its reply), NUMBER latency "
            "percentiles, and errors by kind: repeat, out-of-range, unsolicited, "
            "server-error, bad-reply, stall, dropped, connect. Exits 0 when the run "
            "completed without errors, 1 when it completed with errors, 2 on a usage "
            "error or when no connection could be opened."
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="server address (default 127.0.0.1)")
    p.add_argument("--port", type=port_arg, default=3333, help="server port (default 3333)")
    p.add_argument(
        "-c",
        "--connections",
        type=positive_int,
        default=20,
        metavar="C",
        help="connections held open (default 20)",
    )
    p.add_argument(
        "--playing",
        type=positive_int,
        metavar="K",
        help="only K of the C connections play; the rest stay open and send nothing, so "
        "a server's idle timeout may close them (counted as dropped) (default: all)",
    )
    p.add_argument(
        "-d",
        "--duration",
        type=positive_float,
        default=3.0,
        metavar="S",
        help="seconds of measured load, after every connection is open (default 3)",
    )
    p.add_argument(
        "--procs",
        type=positive_int,
        default=1,
        metavar="N",
        help="worker processes, each with its own event loop; C is split between them (default 1)",
    )
    p.add_argument("--lower", type=int64, default=1, metavar="L", help="lowest number (default 1)")
    p.add_argument(
        "--upper", type=int64, default=100, metavar="U", help="highest number (default 100)"
    )
    p.add_argument(
        "--loop",
        choices=LOOPS,
        default=default_loop(),
        help=f"event loop of the workers (default {default_loop()})",
    )
    p.add_argument(
        "--timeout",
        type=positive_float,
        default=5.0,
        metavar="S",
        help="a reply (or a connect) slower than S seconds counts as a stall (default 5)",
    )
    add_lang(p, "language of the reports")
    p.add_argument("--json", action="store_true", help="print one JSON object instead")
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    if args.lower > args.upper:
        raise UserError(f"--lower {args.lower} is greater than --upper {args.upper}")
    if args.playing is not None and args.playing > args.connections:
        raise UserError(f"--playing {args.playing} exceeds --connections {args.connections}")
    if args.procs > args.connections:
        raise UserError(f"--procs {args.procs} exceeds --connections {args.connections}")
    try:
        return BenchConfig(
            host=args.host,
            port=args.port,
            connections=args.connections,
            duration=args.duration,
            procs=args.procs,
            lower=args.lower,
            upper=args.upper,
            loop=args.loop,
            playing=args.playing,
            timeout=args.timeout,
            lang=args.lang,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None


def run(args: argparse.Namespace, io: IO) -> int:
    config = config_from_args(args)
    live = isatty(io.stdout) and not args.json
    try:
        with _display(io.stdout, config, live) as on_progress:
            result = run_bench(config, on_progress)
    except BenchError as exc:
        raise UserError(str(exc)) from None
    if args.json:
        print(result.to_json(), file=io.stdout, flush=True)
    else:
        io.stdout.write(format_result(result))
        io.stdout.flush()
    return ExitStatus.OK if result.errors == 0 else ERRORS_SEEN


@contextlib.contextmanager
def _display(stream: TextIO, config: BenchConfig, live: bool) -> Iterator[Any]:
    """A progress callback: a live line in a terminal, nothing otherwise."""
    if not live:
        yield None
        return
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    console = Console(file=stream)
    target = f"{config.host}:{config.port}"
    with Live(console=console, auto_refresh=False, transient=True) as display:

        def update(p: Progress) -> None:
            if p.phase == "connecting":
                done = f"{p.connections}/" if p.connections else ""
                text = f"{target}: connecting {done}{config.connections}"
            else:
                rate = p.round_trips / p.elapsed if p.elapsed > 0 else 0.0
                text = (
                    f"{p.elapsed:4.1f}/{config.duration:g} s  {p.connections} conns  "
                    f"{p.games:,} games  {rate:,.0f} round trips/s  {p.errors:,} errors"
                )
            display.update(Text(text), refresh=True)

        yield update


def format_result(result: BenchResult) -> str:
    """The plain-text report."""
    c = result.config
    lat = result.latency_ms()
    playing = "" if c.players == c.connections else f" ({c.players} playing)"
    lines = [
        f"bench {c.host}:{c.port}: {c.connections} connections{playing}, "
        f"{result.elapsed:.1f} s, {c.procs} process{'es' if c.procs > 1 else ''}, "
        f"{c.loop}, range {c.lower}..{c.upper}",
        f"  games           {result.games:>12,}  {result.games_per_s:>12,.1f}/s",
        f"  round trips     {result.round_trips:>12,}  {result.round_trips_per_s:>12,.1f}/s",
        "  NUMBER latency  "
        + "  ".join(f"{k} {_ms(v)}" for k, v in lat.items())
        + (" ms" if lat["max"] is not None else ""),
        f"  errors          {result.errors:>12,}",
    ]
    for kind in ErrorKind:
        count = result.errors_by_kind.get(kind.value, 0)
        if count:
            lines.append(f"    {kind.value:<14}{count:>11,}")
    cpu = result.client_cpu_us_per_round_trip
    if cpu is not None:
        lines.append(f"  bench CPU       {cpu:>12.2f} us per round trip")
    return "\n".join(lines) + "\n"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
