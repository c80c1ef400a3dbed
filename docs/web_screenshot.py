"""Make docs/web.png: the page in headless Chromium, a game three answers in.

It starts a server with a web port on loopback (no store), drives the page
with the same code the browser tests use (``tests/browser.py``), and saves
the picture. Needs Debian's ``chromium`` and the ``test`` extra; for the
Korean words of the language link a Korean font (``fonts-nanum``).

    .venv/bin/python docs/web_screenshot.py [--out docs/web.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import browser  # noqa: E402
from conftest import _release, start_server  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "web.png")
    args = parser.parse_args()
    why = browser.missing()
    if why is not None:
        print(f"web_screenshot: {why}", file=sys.stderr)
        return 2
    srv = start_server("asyncio", web_port=0)
    try:
        assert srv.backend.web_address is not None
        host, port = srv.backend.web_address
        with browser.chromium() as chromium:
            browser.screenshot(chromium, f"http://{host}:{port}", args.out)
    finally:
        _release(srv)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
