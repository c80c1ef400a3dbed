"""The SQLite store: what goes in comes out, from both server backends, and
a database that cannot be used fails clearly when it opens."""

from __future__ import annotations

import logging
import re
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest

from guessgame import Client, Decision, Outcome
from guessgame.records import GameRecord, Guesses
from guessgame.server import Backend
from guessgame.store import NullStore, StoreError, default_db_path, open_store, rows
from guessgame.store.rows import decode_guesses, encode_guesses
from guessgame.store.sqlite import (
    SCHEMA_VERSION,
    SqliteStore,
    open_database,
    size_decade,
)
from guessgame.store.stats import summarize_file
from guessgame.store.writer import RECORD_OVERHEAD
from storeutil import (
    TIMEOUT,
    count_games,
    edge_records,
    make_record,
    run_cli,
    run_cli_unprivileged,
    running_server,
    stored_games,
    version_1_database,
    version_2_database,
)

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


# -- round trips ----------------------------------------------------------------


def test_records_come_back_as_they_went_in(tmp_path: Path) -> None:
    db = tmp_path / "games.sqlite3"
    records = edge_records()
    with SqliteStore(db) as store:
        for record in records:
            store.record(record)
    assert stored_games(db) == records

    conn = sqlite3.connect(db)
    ids = [row[0] for row in conn.execute("SELECT id FROM games ORDER BY ended_at")]
    counts = [row[0] for row in conn.execute("SELECT guess_count FROM games ORDER BY ended_at")]
    (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    conn.close()
    assert all(UUID7.match(i) for i in ids), ids
    # Time-ordered ids: sorting by id sorts by end time.
    assert ids == sorted(ids)
    assert counts == [3, 2, 0, 91]
    assert mode == "wal"
    assert version == SCHEMA_VERSION


def test_records_from_many_threads_are_all_written(tmp_path: Path) -> None:
    db = tmp_path / "games.sqlite3"
    store = SqliteStore(db)
    threads, per_thread = 8, 2500

    def feed(n: int) -> None:
        for i in range(per_thread):
            store.record(make_record(lower=n * per_thread + i, upper=n * per_thread + i + 10))

    workers = [threading.Thread(target=feed, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert store.flush(TIMEOUT)
    # Committed before close(): the writer does not wait for the end.
    assert count_games(db) == threads * per_thread
    store.close()
    assert store.dropped == 0
    lowers = sorted(r.lower for r in stored_games(db))
    assert lowers == list(range(threads * per_thread))


def test_commits_within_the_interval_without_close(tmp_path: Path) -> None:
    db = tmp_path / "games.sqlite3"
    store = SqliteStore(db)
    try:
        store.record(make_record())
        deadline = time.monotonic() + 1.0
        while count_games(db) == 0:
            assert time.monotonic() < deadline, "a lone record was not committed within 1 s"
            time.sleep(0.02)
    finally:
        store.close()


def test_close_is_idempotent_and_later_records_are_counted_not_written(tmp_path: Path) -> None:
    db = tmp_path / "games.sqlite3"
    store = SqliteStore(db)
    store.record(make_record())
    store.close()
    store.close()
    store.record(make_record())
    assert store.written == 1
    assert store.dropped == 1
    assert count_games(db) == 1


@pytest.mark.parametrize("writer", ["process", "thread"])
def test_a_record_the_database_refuses_costs_its_batch_not_the_writer(
    writer: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "games.sqlite3"
    caplog.set_level(logging.ERROR, logger="guessgame.store")
    with SqliteStore(db, writer=writer) as store:
        store.record(make_record(strategy=None))  # NOT NULL
        assert store.flush(TIMEOUT)
        store.record(make_record(guesses=((object(), None),)))  # not a number
        assert store.flush(TIMEOUT)
        store.record(make_record(peer=object()))  # nothing a database (or a pipe) takes
        assert store.flush(TIMEOUT)
        store.record(make_record(lower=42, upper=43))
    assert (store.written, store.lost) == (1, 3)
    assert [g.lower for g in stored_games(db)] == [42]
    errors = [r for r in caplog.records if r.name == "guessgame.store"]
    assert len(errors) == 3 and all("could not record 1 games" in r.getMessage() for r in errors)


def test_a_batch_sent_again_is_stored_and_counted_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer process that dies after its commit but before its answer is
    sent the same batch again: the same ids, recognised by the first."""
    from guessgame.store import sqlite as sqlite_store

    db = tmp_path / "games.sqlite3"
    engine = sqlite_store.SqliteEngine(str(db))
    first = [make_record(lower=i, outcome=Outcome.ABANDONED) for i in range(5)]
    second = [make_record(lower=i, guesses=((i, Decision.CORRECT),)) for i in range(5, 8)]
    first_rows = rows.game_rows(first, rows.game_ids(first))
    second_rows = rows.game_rows(second, rows.game_ids(second))
    engine.insert(first_rows)
    engine.insert(first_rows)  # sent again
    engine.insert(second_rows)
    engine.insert(first_rows)
    assert sorted(g.lower for g in stored_games(db)) == list(range(8))
    assert count_games(db) == 8
    # Only the latest batches are remembered.
    monkeypatch.setattr(sqlite_store, "KEEP_BATCHES", 3)
    for i in range(10):
        more = [make_record(lower=100 + i)]
        engine.insert(rows.game_rows(more, rows.game_ids(more)))
    engine.release()
    conn = sqlite3.connect(db)
    remembered = conn.execute("SELECT count(*) FROM stored_batches").fetchone()
    conn.close()
    assert remembered == (3,)
    assert count_games(db) == 18


def test_size_decade_is_exact_for_every_64_bit_range() -> None:
    assert size_decade(1, 1) == 0
    assert size_decade(1, 9) == 0
    assert size_decade(1, 10) == 1
    assert size_decade(0, 99) == 2
    assert size_decade(1, 100) == 2
    assert size_decade(-(10**6), 10**6) == 6
    assert size_decade(INT64_MIN, INT64_MAX) == 19  # N = 2**64 ~ 1.8e19


# -- overload -------------------------------------------------------------------


@pytest.mark.parametrize("writer", ["process", "thread"])
def test_a_full_queue_drops_and_counts_and_warns_but_never_blocks(
    writer: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "games.sqlite3"
    store = SqliteStore(db, max_pending=100, busy_timeout=0.05, writer=writer)
    # Another process (here: connection) holds the write lock: the writer
    # cannot commit, its queue fills up.
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    caplog.set_level(logging.WARNING, logger="guessgame.store")
    try:
        total = 5000
        for i in range(100):
            store.record(make_record(lower=i, upper=i + 5))
        deadline = time.monotonic() + 3.0
        while store.pending:  # the writer takes them, and cannot commit them
            assert time.monotonic() < deadline, "the writer took nothing"
            time.sleep(0.02)
        start = time.perf_counter()
        for i in range(100, total):
            store.record(make_record(lower=i, upper=i + 5))
        elapsed = time.perf_counter() - start
        # Never waits for the database: 5000 calls take milliseconds.
        assert elapsed < 1.0
        # Records count until committed, in the writer's hands too: while
        # the lock holds, 100 of them, whatever the writer has taken.
        assert store.dropped == total - 100
        deadline = time.monotonic() + 3.0
        while not any("dropped" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, "no warning about dropped records"
            time.sleep(0.02)
        warning = next(r for r in caplog.records if "dropped" in r.getMessage())
        assert warning.name == "guessgame.store"
        assert warning.levelno == logging.WARNING
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    store.close()
    assert store.lost == 0
    assert store.written + store.dropped == total
    assert count_games(db) == store.written
    assert store.written == 100


@pytest.mark.parametrize("writer", ["process", "thread"])
def test_the_queue_is_bounded_in_bytes_too(writer: str, tmp_path: Path) -> None:
    """Games of many guesses fill the queue's byte bound long before its
    count of games; what the writer takes is freed from the count (records
    count until committed, in the writer process's hands too)."""
    db = tmp_path / "games.sqlite3"
    store = SqliteStore(
        db, max_pending=50_000, max_pending_bytes=200_000, busy_timeout=0.05, writer=writer
    )
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    big = Guesses.of([(i, Decision.UNSURE) for i in range(1000)])  # 9 KB a game
    try:
        for i in range(100):
            store.record(make_record(lower=-i, upper=1000, guesses=big))
        # Records count until written, in the writer's hands too: 21 fit.
        accepted = 200_000 // (RECORD_OVERHEAD + 9 * 1000)
        assert store.pending_bytes == accepted * (RECORD_OVERHEAD + 9 * 1000)
        assert store.dropped == 100 - accepted
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert store.flush(10)
    assert store.pending_bytes == 0
    store.close()
    assert (store.written, store.dropped) == (accepted, 100 - accepted)
    stored = stored_games(db)
    assert all(r.guesses == big for r in stored if r.upper == 1000)


def test_a_transaction_is_bounded_in_records_and_in_bytes() -> None:
    """What the writer hands on at once (and the writer process holds, with
    its rows) is bounded however long the games are."""
    from guessgame.store.rows import pack_record
    from guessgame.store.writer import (
        GUESS_BYTES,
        MAX_TRANSACTION,
        MAX_TRANSACTION_BYTES,
        transactions,
    )

    def size(batch: list) -> int:
        return sum(RECORD_OVERHEAD + GUESS_BYTES * len(p[9]) for p in batch)

    small = [pack_record(make_record(lower=i, upper=i + 9)) for i in range(10_000)]
    cut = list(transactions(small, size(small)))
    assert [len(b) for b in cut] == [MAX_TRANSACTION, MAX_TRANSACTION, 2000]
    assert [p for b in cut for p in b] == small
    long_guesses = Guesses.of([(g, Decision.COLDER) for g in range(1000)])
    long_games = [
        pack_record(make_record(lower=-i, upper=1000, guesses=long_guesses)) for i in range(1000)
    ]
    cut = list(transactions(long_games, size(long_games)))
    assert all(size(b) <= MAX_TRANSACTION_BYTES for b in cut)
    assert len(cut) == -(-size(long_games) // MAX_TRANSACTION_BYTES)
    assert [p for b in cut for p in b] == long_games
    # Past the byte bound, the count bound still holds; a record over the
    # byte bound alone goes alone.
    mixed = small[:5000] + long_games[:1] + small[5000:]
    assert all(len(b) <= MAX_TRANSACTION for b in transactions(mixed, MAX_TRANSACTION_BYTES + 1))
    huge = (*long_games[0][:8], b"\0" * 8 * 500_000, b"\1" * 500_000)
    cut = list(transactions([small[0], huge, small[1]], MAX_TRANSACTION_BYTES + 1))
    assert cut == [[small[0]], [huge], [small[1]]]


def test_long_games_are_all_written_in_bounded_transactions(tmp_path: Path) -> None:
    db = tmp_path / "games.sqlite3"
    long_guesses = Guesses.of([(g, Decision.COLDER) for g in range(1000)])
    store = SqliteStore(db)
    try:
        for i in range(1200):  # 11 MB as the queue counts it: several transactions
            store.record(make_record(lower=-i, upper=1000, guesses=long_guesses))
        assert store.flush(TIMEOUT)
    finally:
        store.close()
    assert (store.written, store.dropped, store.lost) == (1200, 0, 0)
    assert count_games(db) == 1200


# -- both backends ----------------------------------------------------------------


def _conversation(address: tuple[str, int]) -> None:
    """One fixed conversation: games won, abandoned every way, and failed."""
    with Client.connect(*address, timeout=TIMEOUT) as client:
        # Won.
        with client.session(1, 5, secret=3):
            for number in client.request_numbers(10):
                client.report_outcome(number)
        # Abandoned by CLEAR, its second guess never reported.
        client.send(b"PARAMS 10 15\n")
        client.number()
        client.report(Decision.UNSURE)
        client.number()
        client.send(b"CLEAR\n")
        # Abandoned by a new PARAMS; the next one (a single number) won.
        client.send(b"PARAMS %d %d\n" % (INT64_MIN, INT64_MAX))
        client.number()
        client.report(Decision.UNSURE)
        client.send(b"PARAMS 7 7\n")
        assert client.number() == 7
        client.report(Decision.CORRECT)
        client.send(b"PARAMS 0 -1\nNUMBER\n")
        assert client.receive().startswith(b"ERROR no-game")
    # Abandoned: the client hangs up in the middle of a game.
    with Client.connect(*address, timeout=TIMEOUT) as client:
        client.send(b"PARAMS 1 100\n")
        client.number()
        client.report(Decision.UNSURE)
    # Error: a line over the limit closes the connection.
    with Client.connect(*address, timeout=TIMEOUT) as client:
        client.send(b"PARAMS 1 1000\n")
        client.number()
        client.send(b"X" * 2000 + b"\n")
        assert client.receive().startswith(b"ERROR line-too-long")


def _play_recorded(backend: str, db: Path) -> list[GameRecord]:
    store = SqliteStore(db)
    try:
        with running_server(backend, store, seed=61) as address:
            _conversation(address)
            # The hang-up and the error end on the server's side; wait for them.
            deadline = time.monotonic() + TIMEOUT
            while store.written + store.pending < 6 and time.monotonic() < deadline:
                time.sleep(0.01)
    finally:
        store.close()
    return stored_games(db)


def _essence(record: GameRecord) -> tuple[object, ...]:
    return (record.lower, record.upper, record.strategy, record.outcome, record.guesses)


@pytest.mark.parametrize("backend", [b.value for b in Backend])
def test_each_backend_records_every_outcome(backend: str, tmp_path: Path) -> None:
    games = _play_recorded(backend, tmp_path / "games.sqlite3")
    ranges = [(g.lower, g.upper) for g in games]
    assert ranges == [(1, 5), (10, 15), (INT64_MIN, INT64_MAX), (7, 7), (1, 100), (1, 1000)]
    assert [g.outcome for g in games] == [
        Outcome.WON,
        Outcome.ABANDONED,
        Outcome.ABANDONED,
        Outcome.WON,
        Outcome.ABANDONED,
        Outcome.ERROR,
    ]
    won = games[0]
    assert won.guesses[-1] == (3, Decision.CORRECT)
    assert all(d is not None for _, d in won.guesses)
    assert [d for _, d in games[1].guesses] == [Decision.UNSURE, None]
    assert games[3].guesses == ((7, Decision.CORRECT),)
    assert [d for _, d in games[5].guesses] == [None]
    for game in games:
        assert game.backend == backend
        assert game.peer.startswith("127.0.0.1:")
        assert game.strategy == "smart"
        assert game.started_at <= game.ended_at <= time.time()


def test_both_backends_record_the_same_games(tmp_path: Path) -> None:
    by_asyncio = _play_recorded("asyncio", tmp_path / "asyncio.sqlite3")
    by_threads = _play_recorded("threads", tmp_path / "threads.sqlite3")
    assert [_essence(g) for g in by_asyncio] == [_essence(g) for g in by_threads]
    assert {g.backend for g in by_asyncio} == {"asyncio"}
    assert {g.backend for g in by_threads} == {"threads"}


# -- schema versions --------------------------------------------------------------


def test_an_older_database_is_migrated_when_opened(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite3"
    version_1_database(db)
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone() == (1,)
    conn.close()

    with SqliteStore(db) as store:
        store.record(make_record(lower=1, upper=1000, ended_at=5.0, started_at=4.5))

    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    decades = conn.execute("SELECT lower, size_decade FROM games ORDER BY ended_at").fetchall()
    indexes = {
        r[0]
        for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")
        if r[0] != "sqlite_autoindex_stored_batches_1"
    }
    conn.close()
    assert decades == [(1, 2), (INT64_MIN, 19), (1, 3)]
    # Version 5: no index on the games; the old games are in the tally.
    assert indexes == set()
    assert count_games(db) == 3
    games = stored_games(db)
    assert games[0].guesses == ((50, Decision.UNSURE), (7, Decision.CORRECT))
    assert games[1].guesses == ((0, None),)
    assert len(games) == 3


def test_a_version_2_database_moves_its_guess_rows_into_the_games(tmp_path: Path) -> None:
    db = tmp_path / "v2.sqlite3"
    version_2_database(db)
    with SqliteStore(db) as store:
        store.record(make_record(lower=1, upper=1000, ended_at=7.0, started_at=6.5))
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    columns = conn.execute("SELECT guesses, guess_count FROM games ORDER BY ended_at").fetchall()
    conn.close()
    assert tables == {"games", "game_tally", "stored_batches"}
    assert columns == [("0? 50- -50+ -7=", 4), ("", 0), ("5? 9", 2), ("2? 4- 3=", 3)]
    games = stored_games(db)
    assert games[0].guesses == (
        (0, Decision.UNSURE),
        (50, Decision.COLDER),
        (-50, Decision.WARMER),
        (-7, Decision.CORRECT),
    )
    assert games[1].guesses == ()
    assert games[2].guesses == ((5, Decision.UNSURE), (9, None))
    assert [g.outcome for g in games] == [
        Outcome.WON,
        Outcome.ERROR,
        Outcome.ABANDONED,
        Outcome.WON,
    ]


def test_the_guesses_column_keeps_every_guess_and_decision_in_order() -> None:
    moves = (
        (INT64_MIN, Decision.UNSURE),
        (-1, Decision.COLDER),
        (0, None),
        (-5, Decision.WARMER),
        (INT64_MAX, None),
        (12, Decision.CORRECT),
        (-3, None),
    )
    text = encode_guesses(moves)
    assert text == f"{INT64_MIN}? -1- 0 -5+ {INT64_MAX} 12= -3"
    assert decode_guesses(text) == moves
    assert encode_guesses(()) == "" and decode_guesses("") == ()
    with pytest.raises((TypeError, ValueError)):
        encode_guesses([(1.5, None)])  # type: ignore[list-item]
    with pytest.raises(KeyError):
        encode_guesses([(1, "warmer")])  # type: ignore[list-item]


def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "new.sqlite3"
    SqliteStore(db).close()
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        SqliteStore(db)


def test_another_applications_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "other.sqlite3"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE games (name TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="something else"):
        SqliteStore(db)


def test_a_locked_database_fails_at_open(tmp_path: Path) -> None:
    db = tmp_path / "games.sqlite3"
    SqliteStore(db).close()
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="locked by another process"):
            SqliteStore(db, busy_timeout=0.2)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_open_store_default_path_and_urls(tmp_path: Path) -> None:
    assert default_db_path().name == "games.sqlite3"
    assert "guessgame" in default_db_path().parts
    store = open_store(str(tmp_path / "a" / "b" / "games.sqlite3"))
    assert isinstance(store, SqliteStore)
    store.close()
    assert (tmp_path / "a" / "b" / "games.sqlite3").is_file()
    with pytest.raises(StoreError, match="URL"):
        open_store("mysql://localhost/games")


# -- clear errors through the command line ----------------------------------------


def _assert_one_line_error(status: int, out: str, err: str, *needles: str) -> None:
    assert status == 2, (status, out, err)
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("guessgame: ")
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_serve_on_a_corrupt_file_is_one_line_exit_2(tmp_path: Path) -> None:
    db = tmp_path / "games.sqlite3"
    db.write_bytes(bytes(range(256)) * 64)
    status, out, err = run_cli("serve", "--port", "0", "--db", str(db))
    _assert_one_line_error(status, out, err, str(db), "not an SQLite database")


def test_serve_on_a_directory_is_one_line_exit_2(tmp_path: Path) -> None:
    status, out, err = run_cli("serve", "--port", "0", "--db", str(tmp_path))
    _assert_one_line_error(status, out, err, str(tmp_path), "directory")


def test_serve_where_no_directory_can_be_made_is_one_line_exit_2(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    db = blocker / "sub" / "games.sqlite3"
    status, out, err = run_cli("serve", "--port", "0", "--db", str(db))
    _assert_one_line_error(status, out, err, "cannot create the database directory")


@pytest.fixture
def read_only_dir() -> Iterator[Path]:
    """A directory only root may write to, inside one anybody may enter (the
    test drops root's powers before using it)."""
    base = Path(tempfile.mkdtemp(prefix="guessgame-ro-"))
    base.chmod(0o755)
    ro = base / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        yield ro
    finally:
        ro.chmod(0o755)
        shutil.rmtree(base)


def test_serve_in_an_unwritable_directory_is_one_line_exit_2(read_only_dir: Path) -> None:
    db = read_only_dir / "games.sqlite3"
    status, out, err = run_cli_unprivileged("serve", "--port", "0", "--db", str(db))
    _assert_one_line_error(status, out, err, str(db), "not writable")
    assert not db.exists()

    db = read_only_dir / "sub" / "games.sqlite3"
    status, out, err = run_cli_unprivileged("serve", "--port", "0", "--db", str(db))
    _assert_one_line_error(status, out, err, "cannot create the database directory", "denied")


def test_serve_no_db_records_nothing_and_db_opens_the_store(tmp_path: Path) -> None:
    from guessgame.cli.serve import open_store as serve_open_store

    class Args:
        no_db = True
        db = str(tmp_path / "never.sqlite3")

    assert isinstance(serve_open_store(Args()), NullStore)  # type: ignore[arg-type]
    assert not (tmp_path / "never.sqlite3").exists()
    Args.no_db = False
    store = serve_open_store(Args())  # type: ignore[arg-type]
    assert isinstance(store, SqliteStore)
    store.close()
    assert (tmp_path / "never.sqlite3").exists()


# -- rows ---------------------------------------------------------------------


def test_batch_ids_are_uuid7_unique_time_ordered_and_repeatable() -> None:
    from guessgame.store.rows import batch_ids

    ends = [1_700_000_000.0 + i / 1000 for i in range(500)] + [-5.0, 1e20]
    seed = bytes(range(10))
    ids = batch_ids(ends, seed)
    assert all(UUID7.match(i) for i in ids), ids[:3]
    assert len(set(ids)) == len(ids)
    assert ids[:500] == sorted(ids[:500])  # ordered by end time
    assert ids[-2].startswith("00000000-0000-")  # before 1970: time 0
    assert ids[-1].startswith("ffffffff-ffff-")  # past 2^48 ms: the last ms
    assert batch_ids(ends, seed) == ids  # the same batch, the same ids
    # Games ending in the same millisecond: the same time, the next counter.
    same_ms = [1_700_000_000.0005] * 4 + [1_700_000_000.0015] * 2
    rand_b = int.from_bytes(seed, "big") & (2**62 - 1)
    for i, (end, gid) in enumerate(zip(same_ms, batch_ids(same_ms, seed), strict=True)):
        value = UUID(gid).int
        assert value >> 80 == int(end * 1000)
        assert value & (2**62 - 1) == rand_b + i
    # A counter that carries into the top bits of the random part, both ways.
    near = (0xFFF << 62 | (1 << 48) - 3).to_bytes(10, "big")
    carried = batch_ids(ends[:6], near)
    assert all(UUID7.match(i) for i in carried) and len(set(carried)) == 6
    assert [i[19:23] for i in carried] == ["8000"] * 3 + ["8001"] * 3


def test_rows_of_games_seen_before_are_the_rows_of_those_games() -> None:

    first = make_record(guesses=((2, Decision.UNSURE), (4, Decision.COLDER), (3, Decision.CORRECT)))
    same_guesses_other_reports = first._replace(
        guesses=((2, Decision.UNSURE), (4, Decision.WARMER), (3, None))
    )
    wide = first._replace(lower=INT64_MIN, upper=INT64_MAX)
    records = [first, same_guesses_other_reports, wide, first]
    texts = [row[-1] for row in rows.game_rows(records, rows.game_ids(records))]
    assert texts == ["2? 4- 3=", "2? 4+ 3", "2? 4- 3=", "2? 4- 3="]
    decades = [row[3] for row in rows.game_rows(records, rows.game_ids(records))]
    assert decades == [0, 0, 19, 0]
    # What is remembered stays bounded.
    many = [make_record(lower=0, upper=i, guesses=((i, None),)) for i in range(5000)]
    rows.game_rows(many, rows.game_ids(many))
    assert len(rows._TEXTS) <= rows._CACHE_SIZE and len(rows._DECADES) <= rows._CACHE_SIZE
    # Long games are written out each time, never remembered: a client
    # playing games at the cap cannot fill the cache with megabytes.
    rows._TEXTS.clear()
    long_games = [
        make_record(guesses=tuple((g + i, Decision.COLDER) for g in range(1000))) for i in range(3)
    ]
    texts = [row[-1] for row in rows.game_rows(long_games, rows.game_ids(long_games))]
    assert texts[1].startswith("1- 2- ") and texts[1].endswith(" 1000-")
    assert rows._TEXTS == {}
    short = make_record(guesses=tuple((g, Decision.COLDER) for g in range(rows._CACHE_GUESSES)))
    rows.game_rows([short], rows.game_ids([short]))
    assert len(rows._TEXTS) == 1


_V3_ROW = (
    "INSERT INTO games (id, lower, upper, size_decade, strategy, backend, peer, started_at,"
    " ended_at, outcome, guess_count, guesses) VALUES (?, ?, ?, ?, ?, 'asyncio', '127.0.0.1:1',"
    " ?, ?, ?, ?, ?)"
)


def test_a_version_3_database_keeps_its_games_and_its_outcome_check(tmp_path: Path) -> None:
    db = tmp_path / "v3.sqlite3"
    conn = open_database(db, target=3)
    (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'games'").fetchone()
    assert "outcome IN ('won', 'abandoned', 'error')" in sql  # as version 3 wrote it
    conn.execute(_V3_ROW, ("a", 1, 9, 0, "smart", 1.0, 2.0, "won", 2, "5- 3="))
    conn.close()

    open_database(db).close()  # migrates
    conn = sqlite3.connect(db, isolation_level=None)
    (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'games'").fetchone()
    assert "IN (" not in sql and "outcome = 'error'" in sql
    assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        conn.execute(
            "INSERT INTO games (id, lower, upper, strategy, backend, peer, started_at, ended_at,"
            " outcome, guess_count, size_decade, guesses)"
            " VALUES ('x', 1, 2, 's', 'b', 'p', 0, 0, 'lost', 0, 0, '')"
        )
    conn.close()
    assert [g.lower for g in stored_games(db)] == [1]
    assert count_games(db) == 1


def test_a_version_4_database_keeps_every_row_and_gets_its_tally(tmp_path: Path) -> None:
    db = tmp_path / "v4.sqlite3"
    conn = open_database(db, target=4)
    rows = [
        ("a", 1, 9, 0, "smart", 1.0, 2.0, "won", 2, "5- 3="),
        ("b", 1, 100, 2, "smart", 3.0, 4.0, "won", 2, "50- 7="),
        ("c", 1, 100, 2, "random", 5.0, 6.0, "abandoned", 1, "50"),
        ("d", INT64_MIN, INT64_MAX, 19, "smart", 7.0, 8.0, "error", 0, ""),
    ]
    conn.execute("BEGIN")
    conn.executemany(_V3_ROW, rows)
    conn.execute("COMMIT")
    before = conn.execute("SELECT * FROM games ORDER BY key").fetchall()
    conn.close()

    open_database(db).close()  # migrates
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    assert conn.execute("SELECT * FROM games ORDER BY key").fetchall() == before
    # The ids are no longer indexed: nothing but the table is written per game.
    indexes = conn.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'games'").fetchall()
    assert indexes == [("games",)]
    conn.close()
    assert count_games(db) == 4
    assert summarize_file(db)["by_strategy"]["smart"]["guesses_per_win"] == {"mean": 2.0, "max": 2}
