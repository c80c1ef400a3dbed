"""The byte-level fuzzer of the core (``fuzz/fuzz_core.py``): its checks on
chosen inputs always, and a short libFuzzer run where atheris is installed."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from types import ModuleType

import pytest

from conftest import ROOT

SCRIPT = ROOT / "fuzz" / "fuzz_core.py"
#: Seconds of fuzzing in the test suite; the script runs as long as asked.
SECONDS = 10


def load_fuzzer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fuzz_core", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def case(stream: bytes, *, strategy: int = 0, max_line: int = 2, proxy: bool = False) -> bytes:
    """A fuzz input: header bytes (strategy, line limit, proxy, seed, no cuts), then the stream."""
    return bytes([strategy, max_line, 0 if proxy else 1, 7, 0, 0, 0, 3]) + b"\x01\x05\x02" + stream


SEEDS = [
    case(b"PARAMS 1 5\nNUMBER\nREPORT \xeb\xa7\x9e\xec\x9d\x8c\nNUMBER\nCLEAR\n"),
    case(b"PARAMS 1 3\nNUMBER\nNUMBER\nNUMBER\nNUMBER\nREPORT Correct\nNUMBER\n", strategy=1),
    case(b"params -9223372036854775808 9223372036854775807\r\nnumber\r\nREPORT same\r\n"),
    case(b"\xff\xfe\nFOO\nPARAMS 1\nPARAMS x 2\nREPORT hot\nNUMBER 5\n\n \n"),
    case(b"PARAMS 1 10\nNUMBER\n" + b"X" * 2000 + b"\nNUMBER\n"),
    case(b"PROXY TCP4 192.0.2.7 192.0.2.8 1000 3333\r\nPARAMS 1 9\nNUMBER\n", proxy=True),
    case(b"PROXY garbage\r\nNUMBER\n", proxy=True),
    # Thousands of digits under a line limit that lets them through: int()
    # refuses more than 4300 digits, and that must be bad-params, not a crash.
    case(b"PARAMS 1 " + b"9" * 5000 + b"\nPARAMS 1 " + b"0" * 5000 + b"7\nNUMBER\n", max_line=3),
]


@pytest.mark.parametrize("data", SEEDS, ids=range(len(SEEDS)))
def test_the_fuzzers_checks_hold_on_chosen_inputs(data: bytes) -> None:
    load_fuzzer().check(data)


def test_the_fuzzers_checks_catch_a_broken_core(monkeypatch: pytest.MonkeyPatch) -> None:
    """The checks are not vacuous: a core that repeats a guess fails them."""
    fuzzer = load_fuzzer()
    monkeypatch.setattr(
        "guessgame.strategies.random_strategy.RandomStrategy.next_guess", lambda self: self.lower
    )
    with pytest.raises(AssertionError):
        fuzzer.check(case(b"PARAMS 1 5\nNUMBER\nNUMBER\n"))


def test_fuzz_for_a_bounded_time(tmp_path: object) -> None:
    pytest.importorskip("atheris", reason="needs the fuzz extra: pip install -e '.[fuzz]'")
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--seconds", str(SECONDS)],
        capture_output=True,
        text=True,
        timeout=SECONDS * 6 + 30,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "Done " in proc.stderr, proc.stderr[-2000:]
    assert "Uncaught Python exception" not in proc.stderr
