"""Games recorded per second: one server on SQLite against a fleet of servers
behind HAProxy recording into PostgreSQL (the deploy/ example, on loopback).

Each setup is started from nothing in a temporary directory (a throw-away
PostgreSQL cluster on a free loopback port, HAProxy configured from
deploy/haproxy.cfg, ``guessgame serve`` subprocesses), then loaded ``--reps``
times by ``guessgame bench --json`` (through the balancer, or straight at
the one server). During each run the rows of the ``games`` table are
counted twice, ``--seconds`` apart, once the load is under way: the
difference over the time between the counts is the rate at which games
reach the database, which is what "recorded per second" means here (the
writers commit every 0.1 s, so a count lags by at most that). The bench's
own games/s (games its players finished) is printed beside it: if the
database fell behind, the two would part. Medians over the repetitions.

Setups (``--setups``, comma-separated, default all):

* ``sqlite-1``       one server, SQLite file, players connect to it directly
* ``pg-1``           one server, PostgreSQL, directly
* ``pg-1-haproxy``   one server, PostgreSQL, through HAProxy (PROXY protocol)
* ``pg-3-haproxy``   three servers, PostgreSQL, through HAProxy (the deploy/ fleet)

    .venv/bin/python benchmarks/scaling.py [--seconds 3] [--reps 3]
        [--connections 60] [--setups sqlite-1,pg-3-haproxy] [--metrics] [--json]

Needs haproxy and the PostgreSQL server binaries (tests/pgutil.py finds
them in /usr/lib/postgresql/*/bin) for the setups that use them. Every
server runs the asyncio backend with its defaults; ``--metrics`` turns on
``--metrics-port`` on all of them, as deploy/compose.yaml does. All the
processes share one machine: on a machine with few cores, the fleet's
servers, HAProxy, PostgreSQL and the load generator compete for them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fleetutil import (  # noqa: E402  (tests/ on the path first)
    Haproxy,
    ServeProcess,
    find_haproxy,
    free_port,
    haproxy_config,
)

SETUPS = ("sqlite-1", "pg-1", "pg-1-haproxy", "pg-3-haproxy")
#: Seconds of load before the first count: connections open, servers warm.
WARMUP = 1.5


@dataclass
class Sample:
    recorded_per_s: float
    bench_games_per_s: float
    round_trips_per_s: float
    p50_ms: float | None
    p99_ms: float | None
    errors: int
    #: Seconds after the bench ended until the row count stopped growing:
    #: how far the writers were behind.
    catch_up_s: float
    #: Rows the run added in all, against the games bench finished (at
    #: least that many; up to one more per connection, cut at the end).
    rows_added: int
    bench_games: int


@dataclass
class SetupResult:
    name: str
    servers: int
    database: str
    balancer: bool
    samples: list[Sample] = field(default_factory=list)

    def median(self, attr: str) -> float | None:
        values = [getattr(s, attr) for s in self.samples if getattr(s, attr) is not None]
        return statistics.median(values) if values else None

    def to_dict(self) -> dict[str, Any]:
        keys = (
            "recorded_per_s",
            "bench_games_per_s",
            "round_trips_per_s",
            "p50_ms",
            "p99_ms",
            "catch_up_s",
        )
        return {
            "setup": self.name,
            "servers": self.servers,
            "database": self.database,
            "balancer": self.balancer,
            "median": {k: self.median(k) for k in keys},
            "errors": sum(s.errors for s in self.samples),
            "runs": [vars(s) for s in self.samples],
        }


# -- counting rows ---------------------------------------------------------------


def sqlite_counter(path: Path) -> Callable[[], int]:
    def count() -> int:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            (n,) = conn.execute("SELECT count(*) FROM games").fetchone()
            return int(n)
        finally:
            conn.close()

    return count


def pg_counter(url: str) -> Callable[[], int]:
    import psycopg

    def count() -> int:
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute("SELECT count(*) FROM games").fetchone()
            assert row is not None
            return int(row[0])

    return count


# -- one run ------------------------------------------------------------------------


def run_once(
    address: tuple[str, int], count: Callable[[], int], seconds: float, connections: int
) -> Sample:
    """One bench run against ``address``; rows counted ``seconds`` apart under load."""
    duration = WARMUP + seconds + 1.0
    before = count()
    bench = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "guessgame",
            "bench",
            "--host",
            address[0],
            "--port",
            str(address[1]),
            "--connections",
            str(connections),
            "--duration",
            f"{duration:g}",
            "--json",
        ],  # fmt: skip
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        time.sleep(WARMUP)
        t0, c0 = time.monotonic(), count()
        time.sleep(seconds)
        t1, c1 = time.monotonic(), count()
        out, err = bench.communicate(timeout=duration + 60)
    finally:
        if bench.poll() is None:
            bench.kill()
            bench.wait()
    ended = time.monotonic()
    if bench.returncode not in (0, 1):
        raise RuntimeError(f"bench failed ({bench.returncode}): {err.strip()}")
    result = json.loads(out)
    # Wait for the writers to catch up: the count is still for 0.5 s.
    last, last_change = count(), time.monotonic()
    while time.monotonic() - last_change < 0.5 and time.monotonic() - ended < 60:
        time.sleep(0.05)
        now = count()
        if now != last:
            last, last_change = now, time.monotonic()
    latency = result["number_latency_ms"]
    return Sample(
        recorded_per_s=round((c1 - c0) / (t1 - t0), 1),
        bench_games_per_s=result["games_per_s"],
        round_trips_per_s=result["round_trips_per_s"],
        p50_ms=latency["p50"],
        p99_ms=latency["p99"],
        errors=result["errors"],
        catch_up_s=round(max(0.0, last_change - ended), 2),
        rows_added=last - before,
        bench_games=result["games"],
    )


# -- setups -----------------------------------------------------------------------------


@contextlib.contextmanager
def servers_running(
    db: str, directory: Path, n: int, proxy_protocol: bool, metrics: bool
) -> Iterator[list[ServeProcess]]:
    started: list[ServeProcess] = []
    try:
        for i in range(n):
            started.append(
                ServeProcess(
                    db,
                    directory / f"serve{i + 1}.log",
                    "asyncio",
                    proxy_protocol=proxy_protocol,
                    metrics=metrics,
                )
            )
        for server in started:
            server.wait_serving()
        yield started
    finally:
        for server in started:
            server.signal(signal.SIGTERM)
        for server in started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait()


@contextlib.contextmanager
def balancer(servers: Sequence[ServeProcess], directory: Path) -> Iterator[tuple[str, int]]:
    binary = find_haproxy()
    if binary is None:
        raise RuntimeError("haproxy not found")
    port = free_port()
    admin = directory / "haproxy.sock"
    config = directory / "haproxy.cfg"
    config.write_text(haproxy_config([s.address for s in servers], port, admin))
    proxy = Haproxy(binary, config, port, admin)
    try:
        proxy.wait_states({f"guess{i}": "UP" for i in range(1, len(servers) + 1)})
        yield proxy.address
    finally:
        proxy.stop()


def measure(
    name: str, opts: argparse.Namespace, workdir: Path, pg_url: Callable[[str], str]
) -> SetupResult:
    kind, n_text, *rest = name.split("-")
    n = int(n_text)
    behind = bool(rest)
    directory = workdir / name
    directory.mkdir()
    if kind == "sqlite":
        path = directory / "games.sqlite3"
        db, count = str(path), sqlite_counter(path)
    else:
        db = pg_url(name.replace("-", "_"))
        count = pg_counter(db)
    result = SetupResult(name, n, "SQLite" if kind == "sqlite" else "PostgreSQL", behind)
    with contextlib.ExitStack() as stack:
        servers = stack.enter_context(servers_running(db, directory, n, behind, opts.metrics))
        if behind:
            address = stack.enter_context(balancer(servers, directory))
        else:
            address = servers[0].address
        for rep in range(opts.reps):
            sample = run_once(address, count, opts.seconds, opts.connections)
            result.samples.append(sample)
            print(
                f"  {name} run {rep + 1}: {sample.recorded_per_s:,.0f} recorded/s, "
                f"bench {sample.bench_games_per_s:,.0f} games/s, errors {sample.errors}, "
                f"caught up {sample.catch_up_s:.2f} s after, "
                f"{sample.rows_added} rows for {sample.bench_games} games",
                file=sys.stderr,
                flush=True,
            )
    return result


# -- the report ---------------------------------------------------------------------------


def markdown(results: list[SetupResult], opts: argparse.Namespace) -> str:
    lines = [
        f"{opts.connections} bench connections, range 1..100, {opts.seconds:g} s counted per "
        f"run, median of {opts.reps} runs; {os.cpu_count()} CPUs, {platform.python_version()}"
        f"{', metrics on' if opts.metrics else ''}.",
        "",
        "| setup | servers | database | balancer | games recorded/s | bench games/s "
        "| round trips/s | NUMBER p50 ms | p99 ms | writers' catch-up s | errors |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def num(value: float | None, fmt: str = ",.0f") -> str:
        return "-" if value is None else format(value, fmt)

    for r in results:
        lines.append(
            f"| {r.name} | {r.servers} | {r.database} | {'HAProxy' if r.balancer else '-'} "
            f"| {num(r.median('recorded_per_s'))} | {num(r.median('bench_games_per_s'))} "
            f"| {num(r.median('round_trips_per_s'))} | {num(r.median('p50_ms'), '.2f')} "
            f"| {num(r.median('p99_ms'), '.2f')} | {num(r.median('catch_up_s'), '.2f')} "
            f"| {sum(s.errors for s in r.samples)} |"
        )
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=3.0, help="seconds counted per run")
    p.add_argument("--reps", type=int, default=3, help="runs per setup (median)")
    p.add_argument("--connections", type=int, default=60, help="bench connections")
    p.add_argument(
        "--setups",
        default=",".join(SETUPS),
        help=f"comma-separated, of {', '.join(SETUPS)} (default all)",
    )
    p.add_argument("--metrics", action="store_true", help="servers serve /metrics too")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    opts = p.parse_args(argv)
    opts.setups = [s for s in opts.setups.split(",") if s]
    unknown = set(opts.setups) - set(SETUPS)
    if unknown:
        p.error(f"unknown setups: {', '.join(sorted(unknown))}")
    return opts


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    results: list[SetupResult] = []
    with tempfile.TemporaryDirectory(prefix="guessgame-scaling-") as tmp:
        workdir = Path(tmp)
        cluster: Any = None
        try:
            if any(s.startswith("pg") for s in opts.setups):
                import pytest

                from pgutil import start_postgres

                pg_dir = workdir / "pg"
                pg_dir.mkdir()
                try:
                    cluster = start_postgres(pg_dir)
                except pytest.skip.Exception as exc:
                    print(f"scaling: {exc}", file=sys.stderr)
                    return 2
            for name in opts.setups:
                print(f"{name} ...", file=sys.stderr, flush=True)
                results.append(measure(name, opts, workdir, lambda db: cluster.create_database(db)))
        finally:
            if cluster is not None:
                cluster.remove()
    if opts.json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
    else:
        print(markdown(results, opts), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
