"""Headless Chromium driving the page: what the browser tests and
``docs/web_screenshot.py`` (which makes ``docs/web.png``) share.

Debian's ``chromium`` package, driven by Playwright for Python; Playwright's
own browser download is never used. The flags keep Chromium from reaching
for the network (this machine has none to give), and ``launch`` gives it a
fresh, empty profile.
"""

from __future__ import annotations

import contextlib
import importlib.util
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guessgame.judge import Judge
from guessgame.protocol import Decision, Lang

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Milliseconds any wait for the page may take.
TIMEOUT_MS = 5000

WORDS = {Lang.EN: ("Lower", "Upper", "New game"), Lang.KO: ("하한", "상한", "새 게임")}
KEYS = {Decision.WARMER: "1", Decision.COLDER: "2", Decision.UNSURE: "3", Decision.CORRECT: "4"}


def missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install -e '.[test]')"
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        return "Debian's chromium is not installed (apt-get install chromium; .ci/run does)"
    return None


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (a Playwright ``Browser``)."""
    from playwright.sync_api import sync_playwright

    executable = CHROMIUM if CHROMIUM.exists() else Path(shutil.which("chromium") or CHROMIUM)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(executable), args=FLAGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@dataclass(frozen=True)
class Seen:
    """What the page shows after a guess or an answer."""

    guess: str
    low: str
    high: str
    count: str
    result: str


def seen(page: Any) -> Seen:
    texts = [page.get_by_test_id(t).text_content() for t in ("guess", "low", "high", "count")]
    return Seen(*texts, page.get_by_test_id("result").text_content())


def open_page(page: Any, base_url: str, lang: Lang | None = None, view: str = "") -> None:
    query = "" if lang is None else f"?lang={lang.value}"
    page.goto(f"{base_url}/{query}{view}")
    page.wait_for_selector("body[data-ready=true]", timeout=TIMEOUT_MS)


def new_game(page: Any, lower: int, upper: int, lang: Lang) -> None:
    """Fill the range and click New game; waits for the first guess."""
    low_label, high_label, button = WORDS[lang]
    page.get_by_label(low_label, exact=True).fill(str(lower))
    page.get_by_label(high_label, exact=True).fill(str(upper))
    page.get_by_role("button", name=button, exact=True).click()
    wait_count(page, 1)


def wait_count(page: Any, count: int) -> None:
    """Until the page shows its ``count``-th guess. (Selectors, not
    wait_for_function: the page's policy forbids the eval that needs.)"""
    page.locator(f"[data-testid=count]:text-is('{count}')").wait_for(timeout=TIMEOUT_MS)
    page.locator("[data-testid=guess]:text-matches('^-?[0-9]+$')").wait_for(timeout=TIMEOUT_MS)


def wait_result(page: Any, testid: str = "result", timeout: int = TIMEOUT_MS) -> None:
    """Until the element ``testid`` says something (a won game's result)."""
    page.locator(f"[data-testid={testid}]:text-matches('[0-9]')").wait_for(timeout=timeout)


def answer(page: Any, decision: Decision, lang: Lang, keys: bool = False) -> None:
    """Click the answer's button (found by its accessible name), or press its key."""
    if keys:
        page.keyboard.press(KEYS[decision])
    else:
        page.get_by_role("button", name=decision.token(lang), exact=True).click()


def play(
    page: Any, lower: int, upper: int, secret: int, lang: Lang, keys: bool = False, stop: int = 0
) -> list[Seen]:
    """An honest game on the page (started already when ``keys``); what the
    page showed after every guess. With ``stop``, ends after that many
    answers, the game still on."""
    if not keys:
        new_game(page, lower, upper, lang)
    else:
        wait_count(page, 1)
    judge = Judge(secret)
    shown = [seen(page)]
    while True:
        decision = judge.judge(int(shown[-1].guess))
        answer(page, decision, lang, keys)
        if decision is Decision.CORRECT:
            wait_result(page)
            shown.append(seen(page))
            return shown
        wait_count(page, len(shown) + 1)
        shown.append(seen(page))
        if stop and len(shown) > stop:
            return shown


def screenshot(browser: Any, base_url: str, path: Path) -> None:
    """The picture of the page in README: an English game over 1..100 for the
    secret 42, three answers in, at a laptop's width."""
    page = browser.new_page(viewport={"width": 960, "height": 900}, device_scale_factor=1)
    try:
        open_page(page, base_url, Lang.EN)
        play(page, 1, 100, 42, Lang.EN, stop=3)
        page.screenshot(path=str(path), full_page=True)
    finally:
        page.close()
