"""``guessgame stats``: the figures, the JSON keys, the speed on a big
database, and clear errors."""

from __future__ import annotations

import io
import json
import random
import sqlite3
import time
from pathlib import Path
from typing import Any

from guessgame.cli import IO, main
from guessgame.protocol import Decision
from guessgame.records import Outcome
from guessgame.store.sqlite import SqliteEngine, SqliteStore, size_decade
from guessgame.store.stats import size_label
from storeutil import count_games, make_record, run_cli, version_1_database

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _guesses(n: int, won: bool) -> tuple[tuple[int, Decision | None], ...]:
    moves: list[tuple[int, Decision | None]] = [(i, Decision.COLDER) for i in range(n)]
    if won and n:
        moves[-1] = (n - 1, Decision.CORRECT)
    return tuple(moves)


def _small_db(path: Path) -> None:
    games = [
        ("smart", 1, 5, Outcome.WON, 3),
        ("smart", 1, 100, Outcome.WON, 7),
        ("smart", 1, 100, Outcome.ABANDONED, 2),
        ("random", 1, 10, Outcome.WON, 5),
        ("random", 1, 1000, Outcome.ERROR, 0),
        ("random", INT64_MIN, INT64_MAX, Outcome.WON, 1),
    ]
    with SqliteStore(path) as store:
        for strategy, lower, upper, outcome, n in games:
            store.record(
                make_record(
                    strategy=strategy,
                    lower=lower,
                    upper=upper,
                    outcome=outcome,
                    guesses=_guesses(n, outcome is Outcome.WON),
                )
            )


def _stats_json(db: Path) -> dict[str, Any]:
    status, out, err = run_cli("stats", "--db", str(db), "--json")
    assert status == 0, err
    assert err == ""
    assert out.count("\n") == 1
    result: dict[str, Any] = json.loads(out)
    return result


def _group(
    games: int, wins: int, abandoned: int, errors: int, mean: Any, most: Any
) -> dict[str, Any]:
    return {
        "games": games,
        "wins": wins,
        "abandoned": abandoned,
        "errors": errors,
        "guesses_per_win": {"mean": mean, "max": most},
    }


def test_stats_json_of_an_empty_database(tmp_path: Path) -> None:
    db = tmp_path / "games.sqlite3"
    SqliteStore(db).close()
    assert _stats_json(db) == {
        **_group(0, 0, 0, 0, None, None),
        "by_strategy": {},
        "by_range": {},
        "by_backend": {},
    }


def test_stats_of_an_empty_sqlite_file_is_zero_games(tmp_path: Path) -> None:
    db = tmp_path / "games.sqlite3"
    db.touch()
    assert _stats_json(db)["games"] == 0


def test_stats_json_figures_of_a_small_database(tmp_path: Path) -> None:
    db = tmp_path / "games.sqlite3"
    _small_db(db)
    assert _stats_json(db) == {
        **_group(6, 4, 1, 1, 4.0, 7),
        "by_strategy": {
            "random": _group(3, 2, 0, 1, 3.0, 5),
            "smart": _group(3, 2, 1, 0, 5.0, 7),
        },
        "by_range": {
            "1-9": {"min_size": 1, "max_size": 9, **_group(1, 1, 0, 0, 3.0, 3)},
            "10-99": {"min_size": 10, "max_size": 99, **_group(1, 1, 0, 0, 5.0, 5)},
            "100-999": {"min_size": 100, "max_size": 999, **_group(2, 1, 1, 0, 7.0, 7)},
            "1000-9999": {"min_size": 1000, "max_size": 9999, **_group(1, 0, 0, 1, None, None)},
            "1e19-1e20": {
                "min_size": 10**19,
                "max_size": 2**64,
                **_group(1, 1, 0, 0, 1.0, 1),
            },
        },
        "by_backend": {"asyncio": _group(6, 4, 1, 1, 4.0, 7)},
    }


def test_stats_tell_games_served_over_the_web_apart(tmp_path: Path) -> None:
    db = tmp_path / "games.sqlite3"
    with SqliteStore(db) as store:
        for backend, n in [("asyncio", 3), ("threads", 5), ("web", 4), ("web", 6)]:
            store.record(make_record(backend=backend, guesses=_guesses(n, True)))
    result = _stats_json(db)
    assert result["by_backend"] == {
        "asyncio": _group(1, 1, 0, 0, 3.0, 3),
        "threads": _group(1, 1, 0, 0, 5.0, 5),
        "web": _group(2, 2, 0, 0, 5.0, 6),
    }
    status, out, err = run_cli("stats", "--db", str(db))
    assert status == 0, err
    assert "served by" in out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:] if line.strip()}
    assert rows["web"] == ["2", "2", "0", "0", "5.00", "6"]


def test_stats_plain_text_when_not_a_terminal(tmp_path: Path) -> None:
    db = tmp_path / "games.sqlite3"
    _small_db(db)
    status, out, err = run_cli("stats", "--db", str(db))
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0] == f"database: {db}"
    assert "\x1b[" not in out  # no colours in a pipe
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:] if line.strip()}
    assert rows["smart"] == ["3", "2", "1", "0", "5.00", "7"]
    assert rows["random"] == ["3", "2", "0", "1", "3.00", "5"]
    assert rows["1000-9999"] == ["1", "0", "0", "1", "-", "-"]
    assert "all games        6     4          1       1          4.00            7" in out


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_stats_is_a_table_in_a_terminal(tmp_path: Path) -> None:
    db = tmp_path / "games.sqlite3"
    _small_db(db)
    out = _Terminal()
    status = main(["stats", "--db", str(db)], io=IO(stdout=out, stderr=io.StringIO()))
    assert status == 0
    text = out.getvalue()
    assert "by strategy" in text and "by range size" in text
    assert "┃" in text  # rich's box drawing
    assert "1e19-1e20" in text


def test_stats_on_a_missing_database_is_one_line_exit_2(tmp_path: Path) -> None:
    db = tmp_path / "nowhere" / "games.sqlite3"
    status, out, err = run_cli("stats", "--db", str(db))
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("guessgame: no database at ") and str(db) in err
    assert not db.parent.exists()  # stats creates nothing


def test_stats_on_a_corrupt_file_is_one_line_exit_2(tmp_path: Path) -> None:
    db = tmp_path / "games.sqlite3"
    db.write_bytes(b"this is not a database, just some bytes\n" * 100)
    status, out, err = run_cli("stats", "--db", str(db), "--json")
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "not an SQLite database" in err and str(db) in err


def test_stats_migrates_an_older_database(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite3"
    version_1_database(db)
    result = _stats_json(db)
    assert result["games"] == 2 and result["wins"] == 1 and result["abandoned"] == 1
    assert list(result["by_range"]) == ["100-999", "1e19-1e20"]


def test_size_labels() -> None:
    assert [size_label(k) for k in (0, 1, 5, 6, 19)] == [
        "1-9",
        "10-99",
        "100000-999999",
        "1e6-1e7",
        "1e19-1e20",
    ]


def test_stats_of_100_000_games_is_fast_and_right(tmp_path: Path) -> None:
    db = tmp_path / "big.sqlite3"
    rng = random.Random(100_000)
    strategies = ("smart", "random")
    outcomes = (Outcome.WON, Outcome.WON, Outcome.WON, Outcome.ABANDONED, Outcome.ERROR)
    rows = []
    expected: dict[str, dict[str, list[int]]] = {s: {} for s in strategies}
    for i in range(100_000):
        strategy = strategies[i % 2]
        upper = 10 ** rng.randint(0, 18)
        outcome = rng.choice(outcomes)
        guesses = rng.randint(1, 60)
        rows.append(
            (
                f"{i:08x}-0000-7000-8000-000000000000",
                1,
                upper,
                size_decade(1, upper),
                strategy,
                "asyncio",
                "127.0.0.1:1",
                1.0,
                2.0,
                outcome.value,
                guesses,
                "",
            )
        )
        expected[strategy].setdefault(outcome.value, []).append(guesses)
    # As the store's writer inserts them: 25 batches, each with its tally.
    engine = SqliteEngine(str(db))
    for start in range(0, len(rows), 4000):
        engine.insert(rows[start : start + 4000])
    engine.release()

    start = time.perf_counter()
    result = _stats_json(db)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"stats took {elapsed:.2f}s on 100,000 games"

    assert result["games"] == 100_000
    assert sum(g["games"] for g in result["by_range"].values()) == 100_000
    for strategy in strategies:
        won = expected[strategy]["won"]
        group = result["by_strategy"][strategy]
        assert group["games"] == 50_000
        assert group["wins"] == len(won)
        assert group["abandoned"] == len(expected[strategy]["abandoned"])
        assert group["errors"] == len(expected[strategy]["error"])
        assert group["guesses_per_win"] == {"mean": round(sum(won) / len(won), 3), "max": 60}

    # The summary reads the tally: a row per kind of game, not per game.
    conn = sqlite3.connect(db)
    (kinds,) = conn.execute("SELECT count(*) FROM game_tally").fetchone()
    conn.close()
    assert kinds <= 2 * 19 * 3 * 60
    assert count_games(db) == 100_000
