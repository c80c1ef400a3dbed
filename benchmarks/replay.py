"""The server's own work per round trip, without sockets: the reads of
``guessgame bench`` replayed through one connection in-process.

The reads are made once, by playing honest games against a reference
connection (exactly the bytes ``bench`` sends: ``REPORT <word>\\nNUMBER\\n``
per round trip, ``REPORT 맞음\\nPARAMS 0 -1\\nPARAMS l u\\nNUMBER\\n`` between
games), then replayed against a fresh connection of the server, which
answers them with the same guesses (the strategies are deterministic for
a given seed). What is timed, per round trip:

* ``core``: :class:`~guessgame.game.ServerConnection` alone;
* ``hub``: a connection made by :class:`~guessgame.server.ServerHub`, whose
  finished games go to the game log (written to /dev/null) and a null store;
* ``shell``: the same through the asyncio backend's protocol object
  (``data_received``), on a transport that sends nothing;
* ``sqlite``: the same, recording into an SQLite store in a temporary
  directory; the clock runs until the store has committed every game;
* ``postgres``: the same into ``--url`` (a throw-away database).

Wall time per round trip, and CPU time of the whole process (every
thread) per round trip, with the CPU of the child processes the store
started (its writer process, read from ``/proc`` before it exits).
``--writer thread`` makes the store insert on its writer thread instead.

    .venv/bin/python benchmarks/replay.py [--mode core,hub,sqlite] [--games 3000]
        [--lower 1 --upper 100] [--reps 7]

Under ``valgrind --tool=callgrind`` (instructions, repeatable on a busy
machine), run it with ``--reps 1`` and ``--reps 3`` and divide the
difference of the totals by twice the round trips it prints:
``benchmarks/callgrind_rt.sh`` does that.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import tempfile
import time
from pathlib import Path

from proctree import cpu_seconds, own_cpu

from guessgame.game import GameConfig, ServerConnection
from guessgame.judge import Judge
from guessgame.protocol import Decision, Lang
from guessgame.server import ServerConfig, ServerHub, game_log
from guessgame.store import Store

MODES = ("core", "hub", "shell", "sqlite", "postgres")


class _Transport:
    """What the asyncio backend's protocol uses of a transport, doing nothing."""

    def __init__(self) -> None:
        self.sent = 0

    def get_extra_info(self, name: str) -> object:
        return ("127.0.0.1", 40000) if name == "peername" else None

    def set_write_buffer_limits(self, high: int) -> None:
        pass

    def write(self, data: bytes) -> None:
        self.sent += 1

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass


def make_reads(
    games: int, lower: int, upper: int, strategy: str, seed: int
) -> tuple[list[bytes], int]:
    """The reads of ``games`` honest games, and the round trips they make."""
    conn = ServerConnection(GameConfig(strategy=strategy, rng=random.Random(seed)))
    pick = random.Random(seed + 1)
    params = b"PARAMS %d %d\n" % (lower, upper)
    words = {d: f"REPORT {d.token(Lang.KO)}\n".encode() for d in Decision}
    reads: list[bytes] = []
    command = params + b"NUMBER\n"
    round_trips = 0
    for _ in range(games):
        judge = Judge(pick.randint(lower, upper))
        while True:
            reads.append(command)
            round_trips += 1
            guess = int(conn.receive_data(command))
            decision = judge.judge(guess)
            if decision is Decision.CORRECT:
                command = words[decision] + b"PARAMS 0 -1\n" + params + b"NUMBER\n"
                break
            command = words[decision] + b"NUMBER\n"
    return reads, round_trips


def open_store(mode: str, url: str | None, tmp: Path, writer: str) -> Store | None:
    if mode == "sqlite":
        from guessgame.store.sqlite import SqliteStore

        return SqliteStore(tmp / f"replay-{time.monotonic_ns()}.sqlite3", writer=writer)
    if mode == "postgres":
        from guessgame.store.postgres import PostgresStore

        assert url is not None, "--url is needed for the postgres mode"
        return PostgresStore(url, writer=writer)
    return None


def replay(
    mode: str, reads: list[bytes], strategy: str, seed: int, store: Store | None
) -> tuple[float, float, float]:
    """Wall and CPU seconds of one replay (the store's work included), and
    the CPU seconds of that in child processes."""
    config = GameConfig(strategy=strategy, rng=random.Random(seed))
    if mode == "core":
        conn = ServerConnection(config)
        hub = None
        receive = conn.receive_data
    elif mode == "shell":
        from guessgame.server_asyncio import AsyncioServer, _GameProtocol

        hub = ServerHub(ServerConfig(strategy=strategy), store)
        hub.game_config = config
        protocol = _GameProtocol(AsyncioServer(hub))
        protocol.connection_made(_Transport())  # type: ignore[arg-type]
        assert protocol.conn is not None
        conn = protocol.conn
        receive = protocol.data_received  # type: ignore[assignment]
    else:
        hub = ServerHub(ServerConfig(strategy=strategy), store)
        hub.game_config = config
        _, conn = hub.open(("127.0.0.1", 40000))
        receive = conn.receive_data
    pid = os.getpid()
    children0 = cpu_seconds(pid) - own_cpu(pid, reaped=False)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for data in reads:
        receive(data)
    conn.receive_eof()
    if hub is not None:
        hub.game_log.flush()
    flush = getattr(store, "flush", None)
    if flush is not None:
        assert flush(600), "the store did not catch up"
    wall = time.perf_counter() - wall0
    children = cpu_seconds(pid) - own_cpu(pid, reaped=False) - children0
    return wall, time.process_time() - cpu0 + children, children


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", default="core,hub,sqlite", help=f"some of {','.join(MODES)}")
    parser.add_argument("--games", type=int, default=3000)
    parser.add_argument("--lower", type=int, default=1)
    parser.add_argument("--upper", type=int, default=100)
    parser.add_argument("--strategy", default="smart")
    parser.add_argument("--reps", type=int, default=7, help="best of this many replays")
    parser.add_argument("--seed", type=int, default=61)
    parser.add_argument("--url", help="PostgreSQL database for the postgres mode")
    parser.add_argument(
        "--writer",
        default="process",
        choices=("process", "thread"),
        help="where the store inserts (default: process)",
    )
    args = parser.parse_args()
    modes = [m.strip() for m in args.mode.split(",") if m.strip()]
    for mode in modes:
        if mode not in MODES:
            parser.error(f"unknown mode {mode!r}")
    if "postgres" in modes and not args.url:
        parser.error("the postgres mode needs --url")
    # The game log writes where a server's stderr would go.
    handler = logging.FileHandler(os.devnull)
    handler.setFormatter(logging.Formatter("%(message)s"))
    game_log.addHandler(handler)
    game_log.setLevel(logging.INFO)
    game_log.propagate = False
    reads, round_trips = make_reads(args.games, args.lower, args.upper, args.strategy, args.seed)
    print(f"{args.games} games of {args.lower}..{args.upper}, {round_trips} round trips")
    with tempfile.TemporaryDirectory(prefix="guessgame-replay-") as tmpdir:
        for mode in modes:
            store = open_store(mode, args.url, Path(tmpdir), args.writer)
            runs = [replay(mode, reads, args.strategy, args.seed, store) for _ in range(args.reps)]
            if store is not None:
                store.close()
            wall = min(r[0] for r in runs) / round_trips * 1e6
            best = min(runs, key=lambda r: r[1])
            cpu, children = (best[1] / round_trips * 1e6, best[2] / round_trips * 1e6)
            print(
                f"{mode:>8}: {wall:6.2f} us/rt wall, {cpu:6.2f} us/rt CPU, of which"
                f" {children:.2f} in child processes (best of {args.reps})"
            )


if __name__ == "__main__":
    main()
