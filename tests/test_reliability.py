"""The short form of the reliability suite (``reliability/run.py``): hostile
clients, overload, a soak and hard stops against server subprocesses of
both backends, each check a real property (see that script's rows)."""

from __future__ import annotations

import importlib.util
import resource
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from conftest import BACKENDS, ROOT

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(180)]


def _load() -> ModuleType:
    path = ROOT / "reliability" / "run.py"
    spec = importlib.util.spec_from_file_location("reliability_run", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


reliability = _load()
SIZE = reliability.SIZES["short"]


@pytest.fixture(autouse=True)
def enough_descriptors() -> Iterator[None]:
    """The clients of a scenario hold a few hundred sockets at once."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = min(hard, 4 * SIZE.over_nofile + 1024)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def assert_held(rows: list[object]) -> None:
    failed = [r for r in rows if not r.held]  # type: ignore[attr-defined]
    assert rows
    assert not failed, "\n" + reliability.format_table(failed)


@pytest.mark.parametrize("backend", BACKENDS)
def test_hostile_clients(backend: str, tmp_path: Path) -> None:
    """Slowloris, pipelining without reading, half-close and reset mid-line,
    2 MB lines, binary garbage, connect/disconnect cycles and more
    connections than --max-connections, while good clients play."""
    rows = reliability.run_hostile(backend, SIZE, tmp_path)
    assert [r.scenario for r in rows] == [
        "slowloris",
        "pipeline, never read",
        "half-close / reset mid-line",
        "huge lines",
        "binary garbage",
        "connect/disconnect",
        "over --max-connections",
    ]
    assert_held(rows)


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_client_can_hurt_the_others(backend: str, tmp_path: Path) -> None:
    """One game flooded with NUMBER lines (smart) or NUMBER/REPORT pairs
    (random): RSS within a few MB; 200 connections holding full games: RSS
    within the per-connection bound; three connections flooding valid lines,
    garbage, or a 100 MB burst never read: the good clients' p99 under
    50 ms; --max-per-address with and without the PROXY protocol."""
    rows = reliability.run_limits(backend, SIZE, tmp_path)
    assert [r.scenario for r in rows] == [
        "one game, number flood",
        "full games",
        "one game, number-report flood",
        "full games",
        "3 x valid flood",
        "3 x garbage flood",
        "3 x burst flood",
        "--max-per-address",
        "--max-per-address (PROXY)",
    ]
    assert_held(rows)


@pytest.mark.parametrize("backend", BACKENDS)
def test_more_connections_than_file_descriptors(backend: str, tmp_path: Path) -> None:
    assert_held(reliability.run_nofile(backend, SIZE, tmp_path))


@pytest.mark.parametrize("backend", BACKENDS)
def test_soak_returns_to_baseline(backend: str, tmp_path: Path) -> None:
    assert_held(reliability.run_soak(backend, SIZE, tmp_path))


@pytest.mark.parametrize("backend", BACKENDS)
def test_sigterm_and_sigkill_under_load_then_restart(backend: str, tmp_path: Path) -> None:
    rows = reliability.run_stops(backend, SIZE, tmp_path)
    assert [r.scenario for r in rows] == ["SIGTERM under load", "SIGKILL under load"]
    assert_held(rows)


def test_a_failing_check_fails_the_row() -> None:
    row = reliability.Row("x", "asyncio", "nothing")
    assert row.check(True, "fine") and row.held
    assert not row.check(False, "broken") and not row.held
    assert "NO: broken" in reliability.format_table([row])
