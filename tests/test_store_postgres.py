"""The PostgreSQL store against a real throw-away cluster on loopback
(:mod:`pgutil`): round trips, the schema on an empty database and its
migrations, concurrent writers, stats agreeing with SQLite's, and a
database that is down at the start, goes away mid-stream or cannot keep up.

Without the PostgreSQL server binaries these tests are skipped, saying so.
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from guessgame.protocol import Decision
from guessgame.records import GameRecord, Outcome
from guessgame.store import StoreError, open_store
from guessgame.store.rows import game_ids, game_rows, read_games
from guessgame.store.sqlite import SqliteStore
from pgutil import PgCluster, start_postgres
from storeutil import (
    TALLY,
    TALLY_OF_GAMES,
    TIMEOUT,
    LoadClient,
    ServeProcess,
    edge_records,
    free_port,
    make_record,
    run_cli,
    start_load,
)

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed (guessgame[postgres])")

from guessgame.store.postgres import (  # noqa: E402  (after the skip)
    SCHEMA_VERSION,
    PostgresEngine,
    PostgresStore,
    migrate,
)

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


# -- fixtures -------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgCluster]:
    """One cluster for the tests that do not stop it."""
    pg = start_postgres(tmp_path_factory.mktemp("pg"))
    try:
        yield pg
    finally:
        pg.remove()


_databases = iter(range(1, 10_000))


@pytest.fixture
def db_url(cluster: PgCluster) -> str:
    """The URL of a new empty database of its own for each test."""
    return cluster.create_database(f"test_{next(_databases)}")


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[PgCluster]:
    """A cluster the test may stop, kill and start."""
    pg = start_postgres(tmp_path)
    try:
        yield pg
    finally:
        pg.remove()


def pg_games(url: str) -> list[GameRecord]:
    with psycopg.connect(url) as conn:
        return [record for _, record in read_games(conn)]


def pg_query(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(sql)
        return list(cursor.fetchall()) if cursor.description else []


def wait_for(condition: Any, what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def _records(n: int, base: int = 0) -> list[GameRecord]:
    return [make_record(lower=base + i, upper=base + i + 9) for i in range(n)]


# -- round trips and the schema -----------------------------------------------


def test_records_come_back_as_they_went_in(db_url: str) -> None:
    records = edge_records()
    with PostgresStore(db_url) as store:
        for record in records:
            store.record(record)
    assert (store.written, store.dropped, store.lost) == (4, 0, 0)
    assert pg_games(db_url) == records
    rows = pg_query(
        db_url, "SELECT id::text, guess_count, size_decade FROM games ORDER BY ended_at"
    )
    ids = [r[0] for r in rows]
    assert ids == sorted(ids)  # UUIDv7: time-ordered
    assert all(i[14] == "7" for i in ids)
    assert [(r[1], r[2]) for r in rows] == [(3, 0), (2, 19), (0, 0), (91, 2)]


def test_an_empty_database_gets_the_schema_once(db_url: str) -> None:
    # Several servers starting together on an empty database.
    stores: list[PostgresStore] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            stores.append(PostgresStore(db_url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for store in stores:
        store.close()
    assert not errors and len(stores) == 4
    tables = {
        r[0]
        for r in pg_query(db_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    }
    assert tables == {"games", "game_tally", "guessgame_schema"}
    assert pg_query(db_url, "SELECT version FROM guessgame_schema") == [(SCHEMA_VERSION,)]
    indexes = {
        r[0] for r in pg_query(db_url, "SELECT indexname FROM pg_indexes WHERE tablename = 'games'")
    }
    assert indexes == {"games_pkey"}  # stats reads game_tally


def test_a_version_1_database_is_migrated_keeping_every_guess(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        migrate(conn, "test", target=1)
        conn.execute(
            "INSERT INTO games (id, lower, upper, strategy, backend, peer, started_at,"
            " ended_at, outcome, guess_count) VALUES"
            " ('01900000-0000-7000-8000-000000000001', 1, 100, 'smart', 'asyncio',"
            "  '127.0.0.1:1', 1.0, 2.0, 'won', 3),"
            " ('01900000-0000-7000-8000-000000000002', %s, %s, 'random', 'threads',"
            "  '127.0.0.1:2', 3.0, 4.0, 'abandoned', 1)",
            (INT64_MIN, INT64_MAX),
        )
        conn.execute(
            "INSERT INTO guesses (game_id, seq, guess, decision) VALUES"
            " ('01900000-0000-7000-8000-000000000001', 2, 7, 'correct'),"
            " ('01900000-0000-7000-8000-000000000001', 0, 50, 'unsure'),"
            " ('01900000-0000-7000-8000-000000000001', 1, -3, 'warmer'),"
            " ('01900000-0000-7000-8000-000000000002', 0, 0, NULL)"
        )
    with PostgresStore(db_url) as store:
        store.record(make_record(lower=1, upper=1000, started_at=4.5, ended_at=5.0))
    games = pg_games(db_url)
    assert [g.guesses for g in games[:2]] == [
        ((50, Decision.UNSURE), (-3, Decision.WARMER), (7, Decision.CORRECT)),
        ((0, None),),
    ]
    assert len(games) == 3
    assert pg_query(db_url, "SELECT size_decade FROM games ORDER BY ended_at") == [
        (2,),
        (19,),
        (3,),
    ]
    assert pg_query(db_url, "SELECT version FROM guessgame_schema") == [(SCHEMA_VERSION,)]
    assert pg_query(db_url, "SELECT to_regclass('guesses')") == [(None,)]


def test_another_applications_games_table_is_refused(db_url: str) -> None:
    pg_query(db_url, "CREATE TABLE games (name text)")
    with pytest.raises(StoreError, match="something else"):
        PostgresStore(db_url)


def test_a_newer_schema_is_refused(db_url: str) -> None:
    PostgresStore(db_url).close()
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("UPDATE guessgame_schema SET version = version + 1")
    with pytest.raises(StoreError, match="newer"):
        PostgresStore(db_url)


def test_open_store_takes_a_postgresql_url(db_url: str) -> None:
    store = open_store(db_url)
    assert isinstance(store, PostgresStore)
    store.close()
    postgres_scheme = "postgres://" + db_url.split("://", 1)[1]
    store = open_store(postgres_scheme)
    assert isinstance(store, PostgresStore)
    store.close()


# -- many writers -----------------------------------------------------------------


def test_two_stores_write_concurrently_without_losing_or_doubling(db_url: str) -> None:
    per_store = 20_000
    stores = [PostgresStore(db_url) for _ in range(2)]

    def feed(index: int) -> None:
        store = stores[index]
        for i, record in enumerate(_records(per_store, base=index * 10**9)):
            store.record(record)
            if i % 1000 == 999:
                time.sleep(0.005)

    feeders = [threading.Thread(target=feed, args=(i,)) for i in range(2)]
    for f in feeders:
        f.start()
    for f in feeders:
        f.join()
    for store in stores:
        store.close()
        assert (store.written, store.dropped, store.lost) == (per_store, 0, 0)
    count, distinct_ids, distinct_lowers = pg_query(
        db_url, "SELECT count(*), count(DISTINCT id), count(DISTINCT lower) FROM games"
    )[0]
    assert count == distinct_ids == distinct_lowers == 2 * per_store
    assert pg_query(db_url, TALLY) == pg_query(db_url, TALLY_OF_GAMES)


def test_a_retried_batch_is_not_stored_twice(db_url: str) -> None:
    records = _records(50)
    rows = game_rows(records, game_ids(records))
    PostgresStore(db_url).close()  # the schema
    engine = PostgresEngine(db_url)
    try:
        # As after a connection lost during the commit: the same rows again.
        engine.insert(rows)
        engine.insert(rows)
        engine.insert(rows[10:20])
    finally:
        engine.release()
    assert pg_query(db_url, "SELECT count(*) FROM games") == [(50,)]
    # Only the games stored were counted.
    assert pg_query(db_url, "SELECT sum(games) FROM game_tally") == [(50,)]
    assert pg_query(db_url, TALLY) == pg_query(db_url, TALLY_OF_GAMES)


def test_games_inserted_as_an_older_guessgame_does_are_counted_once(db_url: str) -> None:
    """A server of schema version 4 still running beside a newer one that
    migrated the database inserts straight into ``games``, knowing nothing
    of the tally: its games are counted all the same, and once."""
    PostgresStore(db_url).close()  # the schema
    insert = (
        "INSERT INTO games (id, lower, upper, size_decade, strategy, backend, peer, started_at,"
        " ended_at, outcome, guess_count, guesses) VALUES"
        " ('01900000-0000-7000-8000-000000000001', 1, 100, 2, 'smart', 'asyncio',"
        "  '127.0.0.1:1', 1.0, 2.0, 'won', 2, '50- 7='),"
        " ('01900000-0000-7000-8000-000000000002', 1, 9, 0, 'random', 'threads',"
        "  '127.0.0.1:2', 3.0, 4.0, 'abandoned', 1, '5')"
        " ON CONFLICT (id) DO NOTHING"
    )
    pg_query(db_url, insert)
    pg_query(db_url, insert)  # sent again: nothing stored, nothing counted
    assert pg_query(db_url, "SELECT sum(games) FROM game_tally") == [(2,)]
    assert pg_query(db_url, TALLY) == pg_query(db_url, TALLY_OF_GAMES)


# -- stats ------------------------------------------------------------------------


def _mixed_records() -> list[GameRecord]:
    games = [
        ("smart", 1, 5, Outcome.WON, 3),
        ("smart", 1, 100, Outcome.WON, 7),
        ("smart", 1, 100, Outcome.ABANDONED, 2),
        ("random", 1, 10, Outcome.WON, 5),
        ("random", 1, 1000, Outcome.ERROR, 0),
        ("random", INT64_MIN, INT64_MAX, Outcome.WON, 1),
    ]
    records = []
    for i in range(300):
        strategy, lower, upper, outcome, n = games[i % len(games)]
        n = n + i % 7 if n else 0
        moves = [(k, Decision.COLDER) for k in range(n)]
        if outcome is Outcome.WON and moves:
            moves[-1] = (n - 1, Decision.CORRECT)
        records.append(
            make_record(
                strategy=strategy, lower=lower, upper=upper, outcome=outcome, guesses=tuple(moves)
            )
        )
    return records


def test_stats_over_postgres_agree_with_sqlite(db_url: str, tmp_path: Path) -> None:
    records = _mixed_records()
    sqlite_db = tmp_path / "games.sqlite3"
    for store in (PostgresStore(db_url), SqliteStore(sqlite_db)):
        with store:
            for record in records:
                store.record(record)
    status, pg_out, err = run_cli("stats", "--db", db_url, "--json")
    assert status == 0, err
    status, sqlite_out, err = run_cli("stats", "--db", str(sqlite_db), "--json")
    assert status == 0, err
    pg_summary = json.loads(pg_out)
    assert pg_summary == json.loads(sqlite_out)
    assert pg_summary["games"] == 300 and set(pg_summary["by_strategy"]) == {"smart", "random"}
    status, text, err = run_cli("stats", "--db", db_url)
    assert status == 0, err
    assert text.splitlines()[0] == f"database: {db_url}"


def test_stats_of_an_empty_postgres_database_is_zero_games(db_url: str) -> None:
    status, out, err = run_cli("stats", "--db", db_url, "--json")
    assert status == 0, err
    assert json.loads(out)["games"] == 0


# -- a database that is not there -------------------------------------------------


def test_a_database_down_at_start_is_one_clear_store_error() -> None:
    port = free_port()
    url = f"postgresql://gamer:s3cret-pw@127.0.0.1:{port}/games"
    with pytest.raises(StoreError) as info:
        PostgresStore(url, connect_timeout=2)
    message = str(info.value)
    assert message.startswith(f"cannot connect to postgresql://gamer@127.0.0.1:{port}/games: ")
    assert "refused" in message.lower()
    assert "s3cret" not in message and "\n" not in message

    status, out, err = run_cli("serve", "--port", "0", "--db", url)
    assert status == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "cannot connect to postgresql://gamer@127.0.0.1" in lines[0]
    assert "s3cret" not in err and "Traceback" not in err
    status, out, err = run_cli("stats", "--db", url)
    assert status == 2 and len(err.strip().splitlines()) == 1 and "s3cret" not in err


def test_without_psycopg_a_url_is_a_store_error_with_the_install_hint() -> None:
    code = (
        "import sys; sys.modules['psycopg'] = None\n"
        "from guessgame.store import StoreError, open_store\n"
        "try:\n"
        "    open_store('postgresql://u@127.0.0.1:1/db')\n"
        "except StoreError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT, check=True
    ).stdout
    assert "guessgame[postgres]" in out


def test_psycopg_is_not_loaded_for_sqlite(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from guessgame.store import open_store\n"
        f"open_store({str(tmp_path / 'g.sqlite3')!r}).close()\n"
        "print('psycopg' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT, check=True
    ).stdout
    assert out.strip() == "False"


# -- a database that goes away ----------------------------------------------------


def test_records_wait_while_the_database_is_down_and_catch_up(
    own_cluster: PgCluster, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="guessgame.store")
    store = PostgresStore(own_cluster.url, connect_timeout=1)
    try:
        for record in _records(500):
            store.record(record)
        assert store.flush(TIMEOUT)
        assert store.written == 500

        own_cluster.kill()  # a crash: every connection drops
        for record in _records(3000, base=10_000):
            store.record(record)
        time.sleep(1.0)
        # Nothing goes in, nothing is dropped: the records wait.
        assert store.written == 500
        assert store.dropped == 0
        wait_for(
            lambda: any("retrying" in r.getMessage() for r in caplog.records),
            "no warning about the database being unreachable",
        )

        own_cluster.start()
        assert store.flush(TIMEOUT * 3), "the records did not catch up"
        assert (store.written, store.dropped, store.lost) == (3500, 0, 0)
        assert store.reconnects >= 1
    finally:
        store.close()
    lowers = sorted(g.lower for g in pg_games(own_cluster.url))
    assert lowers == list(range(500)) + list(range(10_000, 13_000))
    assert any("reconnected" in r.getMessage() for r in caplog.records)


def test_overload_while_down_drops_and_counts_but_never_blocks(
    own_cluster: PgCluster, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="guessgame.store")
    store = PostgresStore(own_cluster.url, max_pending=200, connect_timeout=1)
    try:
        own_cluster.kill()
        total = 5000
        records = _records(total)
        start = time.perf_counter()
        for record in records:
            store.record(record)
        assert time.perf_counter() - start < 1.0  # never waits for the database
        # At most the queue and one batch in the writer's hands wait.
        assert store.dropped >= total - 200 - 4000
        wait_for(
            lambda: any("dropped" in r.getMessage() for r in caplog.records),
            "no warning about dropped records",
        )
        own_cluster.start()
        assert store.flush(TIMEOUT * 3)
    finally:
        store.close()
    assert store.lost == 0
    assert store.written + store.dropped == total
    assert pg_query(own_cluster.url, "SELECT count(*) FROM games") == [(store.written,)]


def test_close_while_the_database_is_down_gives_up_after_its_timeout(
    own_cluster: PgCluster,
) -> None:
    store = PostgresStore(own_cluster.url, close_timeout=1.0, connect_timeout=1)
    own_cluster.kill()
    for record in _records(10):
        store.record(record)
    start = time.monotonic()
    store.close()
    assert time.monotonic() - start < 5.0
    assert (store.written, store.lost) == (0, 10)


# -- real servers ------------------------------------------------------------------


@pytest.mark.slow
def test_servers_on_two_hosts_share_one_database_and_sigterm_loses_nothing(
    db_url: str, tmp_path: Path
) -> None:
    servers = [ServeProcess(db_url, tmp_path / f"serve{i}.log") for i in range(2)]  # type: ignore[arg-type]
    clients = [
        LoadClient(server.address, index=10 * (i + 1) + k).start()
        for i, server in enumerate(servers)
        for k in range(3)
    ]
    time.sleep(1.5)
    for server in servers:
        server.signal(signal.SIGTERM)
    for server in servers:
        assert server.wait() == 0, server.log.read_text()
    for client in clients:
        client.stop.set()
        client.join()
    stored = {g.lower: g for g in pg_games(db_url)}
    assert len(stored) == len(pg_games(db_url))
    confirmed = 0
    for client in clients:
        for lower in client.started:
            assert lower in stored, f"game {lower} was started but not recorded"
        for lower, (_, guesses) in client.confirmed.items():
            assert stored[lower].outcome is Outcome.WON
            assert len(stored[lower].guesses) == guesses
            confirmed += 1
    assert confirmed > 50
    assert set(stored) <= set().union(*(c.sent for c in clients))


@pytest.mark.slow
def test_sigkill_loses_at_most_the_last_second(db_url: str, tmp_path: Path) -> None:
    server = ServeProcess(db_url, tmp_path / "serve.log")  # type: ignore[arg-type]
    clients = start_load(server.address, 6)
    time.sleep(2.5)
    killed_at = time.time()
    server.stop(signal.SIGKILL)
    for client in clients:
        client.stop.set()
        client.join()
    stored = {g.lower: g for g in pg_games(db_url)}
    old_enough = 0
    for client in clients:
        for lower, (ended, guesses) in client.confirmed.items():
            if ended < killed_at - 1.0:
                old_enough += 1
                assert lower in stored, f"game {lower} ended {killed_at - ended:.2f}s before"
                assert len(stored[lower].guesses) == guesses
    assert old_enough > 50


def test_a_dropped_connection_and_a_read_only_server_are_retried(db_url: str) -> None:
    dbname = db_url.rsplit("/", 1)[1]
    store = PostgresStore(db_url, connect_timeout=1)
    try:
        store.record(make_record(lower=1, upper=9))
        assert store.flush(TIMEOUT)
        # As in a failover: the server the writer reconnects to is read-only.
        pg_query(db_url, f'ALTER DATABASE "{dbname}" SET default_transaction_read_only = on')
        pg_query(
            db_url,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'guessgame'",
        )
        for record in _records(100, base=1000):
            store.record(record)
        time.sleep(0.5)
        assert store.written == 1 and store.lost == 0
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("SET default_transaction_read_only = off")
            conn.execute(f'ALTER DATABASE "{dbname}" RESET default_transaction_read_only')
        assert store.flush(TIMEOUT)
        assert (store.written, store.lost, store.dropped) == (101, 0, 0)
        assert store.reconnects >= 2
    finally:
        store.close()
    assert pg_query(db_url, "SELECT count(*) FROM games") == [(101,)]
