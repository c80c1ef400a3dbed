"""How many finished games per second the SQLite store's writer commits.

Two figures. *Alone*: 100,000 records are queued at once and the writer
commits them with the process otherwise idle. *Contended*: several threads
call ``SqliteStore.record`` as fast as they can for a few seconds, as a
server's connection threads would if games ended without pause and without
I/O. They hold the GIL all the time, the worst case for the writer, whose
row building needs it. The queue fills, so most calls are dropped (and
counted); what matters is how many records the writer committed per second
meanwhile, and what a ``record()`` call cost its caller.

    .venv/bin/python benchmarks/store_writer.py [--threads 4] [--seconds 3]
        [--guesses 8] [--url postgresql://user@host:port/db] [--writer process|thread]

With ``--url`` the PostgreSQL store is measured instead (its games table
grows by every game committed; use a throw-away database).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from guessgame.protocol import Decision
from guessgame.records import GameRecord, Outcome
from guessgame.store.sqlite import SqliteStore
from guessgame.store.writer import MAX_PENDING, WRITERS, BatchWriter

#: The PostgreSQL database to measure instead of an SQLite file, if any.
URL: str | None = None
#: Where the store inserts: its writer process, or its writer thread.
WRITER = "process"


def open_store(db: Path, max_pending: int = MAX_PENDING) -> BatchWriter:
    if URL is not None:
        from guessgame.store.postgres import PostgresStore

        return PostgresStore(URL, max_pending=max_pending, writer=WRITER)
    return SqliteStore(db, max_pending=max_pending, writer=WRITER)


def sample_records(guesses: int) -> list[GameRecord]:
    """A few realistic games: ``guesses`` guesses each, the last one won."""
    moves = [(50 + i, Decision.COLDER if i % 2 else Decision.WARMER) for i in range(guesses - 1)]
    now = time.time()
    return [
        GameRecord(
            lower=1,
            upper=100 * (n + 1),
            strategy="smart",
            backend="asyncio",
            peer=f"127.0.0.1:{40000 + n}",
            started_at=now,
            ended_at=now,
            outcome=Outcome.WON,
            guesses=(*moves, (7, Decision.CORRECT)),
        )
        for n in range(16)
    ]


def alone(db: Path, games: int, guesses: int) -> float:
    """Games per second the writer commits with nothing else running."""
    records = sample_records(guesses)
    store = open_store(db, max_pending=games + 1)
    start = time.perf_counter()
    for i in range(games):
        store.record(records[i % len(records)])
    store.flush(timeout=600)
    took = time.perf_counter() - start
    store.close()
    return games / took


def run(db: Path, threads: int, seconds: float, guesses: int) -> dict[str, float]:
    records = sample_records(guesses)
    store = open_store(db)
    calls = [0] * threads
    start_gate = threading.Barrier(threads + 1)
    deadline = 0.0

    def feed(index: int) -> None:
        record = store.record
        batch = records
        n = 0
        start_gate.wait()
        while time.perf_counter() < deadline:
            for r in batch:
                record(r)
            n += len(batch)
        calls[index] = n

    workers = [threading.Thread(target=feed, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    deadline = time.perf_counter() + seconds
    start_gate.wait()
    began = time.perf_counter()
    written_before = store.written
    for w in workers:
        w.join()
    fed_for = time.perf_counter() - began
    written_during = store.written - written_before
    close_began = time.perf_counter()
    store.close()
    close_took = time.perf_counter() - close_began
    total_calls = sum(calls)
    return {
        "seconds": fed_for,
        "record_calls": total_calls,
        "record_call_ns": fed_for * threads / total_calls * 1e9,
        "committed_during": written_during,
        "committed_per_s": written_during / fed_for,
        "guess_rows_per_s": written_during * guesses / fed_for,
        "committed_total": store.written,
        "dropped": store.dropped,
        "close_s": close_took,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=4, help="feeding threads (default 4)")
    parser.add_argument("--seconds", type=float, default=3.0, help="feeding time (default 3)")
    parser.add_argument("--guesses", type=int, default=8, help="guesses per game (default 8)")
    parser.add_argument("--db", type=Path, help="database file (default: a temporary one)")
    parser.add_argument("--url", help="measure the PostgreSQL store on this database instead")
    parser.add_argument(
        "--writer", choices=WRITERS, default="process", help="where the store inserts"
    )
    args = parser.parse_args()
    global URL, WRITER
    URL = args.url
    WRITER = args.writer
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "bench.sqlite3"
        rate = alone(Path(tmp) / "alone.sqlite3", 100_000, args.guesses)
        r = run(db, args.threads, args.seconds, args.guesses)
    print(f"alone: writer committed {rate:,.0f} games/s ({rate * args.guesses:,.0f} guesses/s)")
    print(
        f"contended: writer committed {r['committed_per_s']:,.0f} games/s "
        f"({r['guess_rows_per_s']:,.0f} guesses/s) over {r['seconds']:.1f} s "
        f"with {args.threads} threads feeding"
    )
    print(
        f"record(): {r['record_calls']:,.0f} calls, {r['record_call_ns']:,.0f} ns each "
        f"(wall time per call per thread); dropped {r['dropped']:,.0f} "
        f"(queue full); committed {r['committed_total']:,.0f} in all; "
        f"close() flushed the rest in {r['close_s']:.2f} s"
    )


if __name__ == "__main__":
    main()
