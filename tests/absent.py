"""What the tests do when an outside part they drive is missing here.

HAProxy, PostgreSQL and Chromium come from Debian's packages, which a
developer may not have installed: their tests report a skip saying what to
install. In CI (``CI`` set, as ``.ci/run`` runs) every one of them is
installed first, so the same absence fails the test instead: a skip there
would hide a missing install step.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    """Whether the tests run in CI, where nothing they drive may be missing."""
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def absent(reason: str) -> NoReturn:
    """Skip the test, saying why; in CI, fail it."""
    if in_ci():
        pytest.fail(f"{reason}; in CI it must be there", pytrace=False)
    pytest.skip(reason)
