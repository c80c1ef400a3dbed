"""The fleet of deploy/, for real, on loopback: HAProxy (its config made from
deploy/haproxy.cfg) in front of three ``guessgame serve --proxy-protocol``
processes, two asyncio and one threaded, recording into one throw-away
PostgreSQL cluster; players connecting through the balancer.

What it shows: every game recorded exactly once with the player's own
address; ``stats`` agreeing with the players; each server's ``/metrics``;
one server stopped (SIGTERM) or killed (SIGKILL) under load, and the
database restarted under load, without losing what must not be lost.

Without haproxy, the PostgreSQL server binaries or psycopg, these tests are
skipped and say why.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fleetutil import Fleet, Player, have_prometheus, players, require_haproxy, wait_until
from pgutil import PgCluster, start_postgres
from storeutil import TALLY, TALLY_OF_GAMES, run_cli

pytestmark = pytest.mark.slow

#: Seconds the writer of every server may take to catch up.
CATCH_UP = 20.0


@dataclass(frozen=True)
class Row:
    lower: int
    upper: int
    peer: str
    outcome: str
    guess_count: int
    backend: str


def db_rows(url: str) -> list[Row]:
    import psycopg

    with psycopg.connect(url) as conn:
        return [
            Row(*row)
            for row in conn.execute(
                "SELECT lower, upper, peer, outcome, guess_count, backend FROM games"
            ).fetchall()
        ]


def wait_rows(url: str, at_least: int, timeout: float = CATCH_UP) -> list[Row]:
    """The rows once there are ``at_least`` (and no more came for a moment)."""
    deadline = time.monotonic() + timeout
    rows = db_rows(url)
    while time.monotonic() < deadline:
        if len(rows) >= at_least:
            time.sleep(0.3)  # more may still be on their way
            again = db_rows(url)
            if len(again) == len(rows):
                return rows
            rows = again
            continue
        time.sleep(0.1)
        rows = db_rows(url)
    raise AssertionError(f"expected {at_least} games in the database, found {len(rows)}")


def by_lower(rows: list[Row]) -> dict[int, Row]:
    """Rows by their game's lower bound; fails if a game is there twice."""
    counts = Counter(row.lower for row in rows)
    twice = [lower for lower, n in counts.items() if n > 1]
    assert not twice, f"games recorded more than once: {twice[:5]}"
    return {row.lower: row for row in rows}


def all_started(group: list[Player]) -> dict[int, Any]:
    # copy() first: players may still be adding games (copying is atomic).
    return {lower: game for p in group for lower, game in p.started.copy().items()}


def assert_no_player_errors(group: list[Player]) -> None:
    errors = [e for p in group for e in p.errors]
    assert not errors, errors[:5]


def assert_no_traceback(fleet: Fleet) -> None:
    for server in fleet.servers:
        assert "Traceback" not in server.log_text(), server.log_text()


def metric_values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Samples of a /metrics body: (name, sorted labels) -> value."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def metric_sum(values: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str) -> float:
    return sum(v for (n, _), v in values.items() if n == name)


# -- fixtures -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def haproxy_bin() -> str:
    return require_haproxy()


@pytest.fixture(scope="module")
def cluster(haproxy_bin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgCluster]:
    """One PostgreSQL cluster for the tests that do not stop it; a database each."""
    pg = start_postgres(tmp_path_factory.mktemp("pg"))
    try:
        yield pg
    finally:
        pg.remove()


_databases = iter(range(1, 1000))


@pytest.fixture
def db_url(cluster: PgCluster) -> str:
    return cluster.create_database(f"fleet_{next(_databases)}")


@pytest.fixture
def fleet(db_url: str, tmp_path: Path) -> Iterator[Fleet]:
    """guess1, guess2 (asyncio) and guess3 (threads) behind HAProxy; stopped after."""
    with Fleet(db_url, tmp_path) as running:
        yield running


@dataclass
class Played:
    fleet: Fleet
    db: str
    players: list[Player]
    rows: list[Row]


@pytest.fixture(scope="module")
def played(cluster: PgCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Played]:
    """A fleet after 40 players played through it for 3 seconds and
    stopped; the database caught up. The servers are still running."""
    url = cluster.create_database("fleet_played")
    with Fleet(url, tmp_path_factory.mktemp("played")) as fleet:
        with players(fleet.address, 40) as group:
            time.sleep(3.0)
        total = len(all_started(group))
        rows = wait_rows(url, total)
        yield Played(fleet, url, group, rows)


# -- many players, a healthy fleet ------------------------------------------------------


def test_every_game_is_recorded_once_with_the_players_own_address(played: Played) -> None:
    assert_no_player_errors(played.players)
    assert sum(p.drops for p in played.players) == 0
    started = all_started(played.players)
    assert len(started) > 500, "too little load to show anything"
    stored = by_lower(played.rows)
    # Exactly the games the players played: none lost, none invented, and
    # none of the balancer's health checks (PARAMS 1 1).
    assert set(stored) == set(started)
    for lower, game in started.items():
        row = stored[lower]
        # The address HAProxy passed on in the PROXY header is the
        # player's own socket's, not the balancer's.
        assert row.peer == game.peer, (lower, row.peer, game.peer)
        assert row.outcome == "won"
        assert row.guess_count == game.guesses
        assert row.upper == lower + 9
    # Every player connection was a different loopback port.
    assert len({row.peer for row in played.rows}) == len(played.players)
    # Both backends served.
    assert {row.backend for row in played.rows} == {"asyncio", "threads"}


def test_stats_over_postgres_agree_with_the_players(played: Played) -> None:
    status, out, err = run_cli("stats", "--db", played.db, "--json")
    assert status == 0, err
    summary = json.loads(out)
    games = list(all_started(played.players).values())
    guesses = [g.guesses for g in games]
    assert summary["games"] == len(games)
    assert summary["wins"] == len(games)
    assert summary["abandoned"] == 0
    assert summary["errors"] == 0
    smart = summary["by_strategy"]["smart"]
    assert smart["games"] == smart["wins"] == len(games)
    # stats gives the mean to three decimals.
    assert smart["guesses_per_win"]["mean"] == round(sum(guesses) / len(guesses), 3)
    assert smart["guesses_per_win"]["max"] == max(guesses)


def test_each_server_serves_its_metrics(played: Played) -> None:
    pytest.importorskip("prometheus_client", reason="prometheus_client is not installed")
    total_games = len(all_started(played.players))
    won = 0.0
    for server in played.fleet.servers:
        text = server.metrics()
        values = metric_values(text)
        names = {name for name, _ in values}
        for name in (
            "guessgame_connections_open",
            "guessgame_connections_total",
            "guessgame_games_started_total",
            "guessgame_games_ended_total",
            "guessgame_number_latency_seconds_bucket",
            "guessgame_number_latency_seconds_count",
            "guessgame_number_latency_seconds_sum",
            "guessgame_store_queue_depth",
            "guessgame_store_records_written_total",
        ):
            assert name in names, f"{name} missing from {server.log.name}'s /metrics"
        assert all(name.startswith("guessgame_") for name in names)
        ended = metric_sum(values, "guessgame_games_ended_total")
        server_won = values[
            ("guessgame_games_ended_total", (("outcome", "won"), ("strategy", "smart")))
        ]
        # leastconn spread the players over every server.
        assert server_won > 0, f"{server.log.name} played no game"
        won += server_won
        # The balancer's checks play too, but are neither recorded nor counted.
        assert metric_sum(values, "guessgame_games_started_total") == ended
        assert metric_sum(values, "guessgame_store_records_written_total") == ended
        assert values[("guessgame_store_queue_depth", ())] == 0
        # Checks connected too (once a second), and each player once.
        assert values[("guessgame_connections_total", ())] > 1
        # Every game asked at least one NUMBER.
        latency = values[("guessgame_number_latency_seconds_count", ())]
        assert latency >= server_won
        inf = values[("guessgame_number_latency_seconds_bucket", (("le", "+Inf"),))]
        assert inf == latency
    assert won == total_games


# -- many connections at once -------------------------------------------------------------


def test_two_hundred_bench_connections_through_the_balancer(fleet: Fleet) -> None:
    host, port = fleet.address
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "guessgame",
            "bench",
            "--host",
            host,
            "--port",
            str(port),
            "--connections",
            "200",
            "--duration",
            "2",
            "--json",
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    bench = json.loads(result.stdout)
    assert bench["errors"] == 0, bench
    assert bench["games"] > 200
    # Games bench finished, plus at most one cut short per connection at its end.
    rows = wait_rows(fleet.db, bench["games"])
    assert bench["games"] <= len(rows) <= bench["games"] + 200
    assert sum(row.outcome == "won" for row in rows) >= bench["games"]
    assert len({row.peer for row in rows}) >= 200
    assert all(row.peer.startswith("127.0.0.1:") for row in rows)
    assert {row.backend for row in rows} == {"asyncio", "threads"}
    # The three servers' batches, counted by the tally as they were stored.
    import psycopg

    with psycopg.connect(fleet.db) as conn:
        assert conn.execute(TALLY).fetchall() == conn.execute(TALLY_OF_GAMES).fetchall()


# -- a server stopped, a server killed -------------------------------------------------------


#: Seconds a player cut off may take to play again through the balancer. The
#: check needs about two seconds to take a dead server out (inter 1s, fall
#: 2); a connection it had already sent there waits out HAProxy's retries
#: (3, a second apart) before it is closed and the player connects again.
BACK_IN_PLAY = 10.0


def cut_players_play_again(group: list[Player], since: float) -> Callable[[], bool]:
    """Whether every player cut off after ``since`` plays again on a new connection."""

    def check() -> bool:
        return all(p.sessions and p.sessions[-1] > since for p in group if p.drops)

    return check


@pytest.mark.parametrize("victim", ["guess1", "guess3"], ids=["asyncio", "threads"])
def test_a_server_stopped_mid_load_loses_no_game_and_players_go_on(
    fleet: Fleet, victim: str
) -> None:
    server = fleet.servers[fleet.names.index(victim)]
    assert fleet.haproxy is not None
    with players(fleet.address, 24) as group:
        time.sleep(1.5)
        stopped_at = time.monotonic()
        server.signal(signal.SIGTERM)
        assert server.wait() == 0, server.log_text()
        fleet.haproxy.wait_states({victim: "DOWN"})
        wait_until(
            cut_players_play_again(group, stopped_at),
            BACK_IN_PLAY,
            "every player cut off by the stop plays again",
        )
        before = {p.index: len(p.started) for p in group}
        time.sleep(0.5)
    assert_no_player_errors(group)
    assert any(p.drops for p in group), "no player was on the stopped server"
    for p in group:
        assert len(p.started) > before[p.index], f"player {p.index} stopped playing"
    started = all_started(group)
    stored = by_lower(wait_rows(fleet.db, len(started)))
    # A game the server answered a NUMBER of is recorded; a won game as won,
    # with every guess. Nothing is recorded that no player sent.
    missing = set(started) - set(stored)
    assert not missing, f"{len(missing)} games lost, e.g. {sorted(missing)[:3]}"
    for lower, game in started.items():
        assert stored[lower].peer == game.peer
        if game.confirmed_at is not None:
            assert stored[lower].outcome == "won"
            assert stored[lower].guess_count == game.guesses
    assert set(stored) <= set().union(*(p.sent for p in group))
    assert "stopped" in server.log_text()
    assert_no_traceback(fleet)


def test_a_killed_server_is_taken_out_by_the_check_and_the_others_go_on(fleet: Fleet) -> None:
    # guess3 is the only threaded server: its games are those of backend 'threads'.
    victim = fleet.servers[2]
    assert fleet.haproxy is not None
    with players(fleet.address, 24) as group:
        time.sleep(1.5)
        killed_at = time.monotonic()
        killed_wall = time.time()
        victim.signal(signal.SIGKILL)
        victim.wait()
        # inter 1s, fall 2: two failed checks, about two seconds.
        took = fleet.haproxy.wait_states({"guess3": "DOWN"}, timeout=10)
        assert took < 5, f"the check took {took:.1f}s to take the server out"
        assert fleet.haproxy.server_states() == {"guess1": "UP", "guess2": "UP", "guess3": "DOWN"}
        # New players arriving now reach a live server at the first try.
        with players(fleet.address, 10, first=1000, games=20) as late:
            pass
        wait_until(
            cut_players_play_again(group, killed_at),
            BACK_IN_PLAY,
            "every player cut off by the kill plays again",
        )
        before = {p.index: len(p.started) for p in group}
        time.sleep(0.5)
    assert_no_player_errors(group + late)
    assert all(len(p.started) == 20 and p.drops == 0 for p in late)
    for p in group:
        assert len(p.started) > before[p.index], f"player {p.index} stopped playing"
    started = all_started(group + late)
    rows = db_rows(fleet.db)
    stored = by_lower(wait_rows(fleet.db, len(rows)))
    survivors = {row.peer for row in rows if row.backend == "asyncio"}
    killed = {row.peer for row in rows if row.backend == "threads"}
    assert killed, "no player was on the killed server"
    for lower, game in started.items():
        if game.peer in survivors:
            # The servers that live lose nothing.
            assert lower in stored, f"game {lower} of a live server is not recorded"
        elif game.confirmed_at is not None and game.confirmed_at < killed_wall - 1.0:
            # The killed one: at most the games of its last second.
            assert lower in stored, f"game {lower} won long before the kill is lost"
    late_peers = {g.peer for p in late for g in p.started.values()}
    assert late_peers <= survivors
    assert_no_traceback(fleet)


# -- the database restarted ----------------------------------------------------------------


def test_a_database_restart_mid_load_crashes_nothing_and_records_catch_up(
    haproxy_bin: str, tmp_path: Path
) -> None:
    pg = start_postgres(tmp_path)
    try:
        with Fleet(pg.url, tmp_path) as fleet, players(fleet.address, 18) as group:
            time.sleep(1.0)
            pg.stop()
            down_at = len(all_started(group))
            time.sleep(2.5)
            during = len(all_started(group)) - down_at
            pg.start()
            time.sleep(1.0)
            for p in group:
                p.stop.set()
            for p in group:
                p.join()
            # Games went on while the database was away.
            assert during > 100, f"only {during} games while the database was down"
            started = all_started(group)
            stored = by_lower(wait_rows(pg.url, len(started)))
            assert set(stored) == set(started)
            for lower, game in started.items():
                assert stored[lower].peer == game.peer
                assert stored[lower].guess_count == game.guesses
            assert all(server.alive() for server in fleet.servers)
            assert_no_player_errors(group)
            assert sum(p.drops for p in group) == 0
            logs = fleet.logs()
            assert "retrying" in logs and "reconnected" in logs, logs[-3000:]
            assert_no_traceback(fleet)
            if have_prometheus():
                for server in fleet.servers:
                    values = metric_values(server.metrics())
                    assert values[("guessgame_store_queue_depth", ())] == 0
                    assert metric_sum(values, "guessgame_store_records_dropped_total") == 0
    finally:
        pg.remove()
