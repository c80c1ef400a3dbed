"""A missing outside part (Debian's haproxy, postgresql, chromium) is a
skip on a developer's machine and a failure in CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TEST = """
from absent import absent

def test_needs_something():
    absent("something is not installed")
"""


@pytest.mark.parametrize(("ci", "outcome"), [("", "1 skipped"), ("true", "1 failed")])
def test_absent_skips_outside_ci_and_fails_in_it(ci: str, outcome: str, tmp_path: Path) -> None:
    (tmp_path / "test_it.py").write_text(TEST)
    tests = Path(__file__).resolve().parent
    env = dict(os.environ, CI=ci, PYTHONPATH=str(tests))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert outcome in done.stdout, done.stdout
    assert "something is not installed" in done.stdout
