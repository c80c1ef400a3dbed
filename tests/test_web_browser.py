"""The page in a real browser: headless Chromium (Debian's package) driven by
Playwright. Whole games by clicking and by keyboard, in Korean and English;
the drawn interval holds the secret and shrinks; contradictions raise the
alert; the watch view plays both guessers to the end; the page's model of
the search is the smart guesser's; phone-sized screens; the screenshot."""

from __future__ import annotations

import random
import struct
from collections.abc import Iterator
from typing import Any

import pytest

import browser
from absent import absent
from conftest import RunningServer, _release, start_server
from guessgame.judge import Judge
from guessgame.protocol import INT64_MAX, INT64_MIN, Decision, Lang
from guessgame.server_web import WEB_BACKEND
from guessgame.strategies import SmartStrategy

_why = browser.missing()


@pytest.fixture(scope="module", autouse=True)
def _needs_chromium() -> None:
    # Autouse and module-scoped: before the module's other fixtures start a browser.
    if _why is not None:
        absent(_why)


SECRETS = [(1, 100, 42), (1, 100, 1), (1, 100, 100), (-50, 50, -7), (1, 1, 1), (10, 15, 12)]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with browser.chromium() as b:
        yield b


@pytest.fixture(scope="module")
def web_servers() -> Iterator[dict[str, RunningServer]]:
    """A server of each backend with its web port; most tests use the first."""
    servers = {backend: start_server(backend, web_port=0) for backend in ("asyncio", "threads")}
    yield servers
    for srv in servers.values():
        _release(srv)


@pytest.fixture
def web_server(web_servers: dict[str, RunningServer]) -> RunningServer:
    return web_servers["asyncio"]


def url_of(srv: RunningServer) -> str:
    address = srv.backend.web_address
    assert address is not None
    return f"http://{address[0]}:{address[1]}"


@pytest.fixture
def base_url(web_server: RunningServer) -> str:
    return url_of(web_server)


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    page = chromium.new_page(viewport={"width": 1000, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    yield page
    page.close()
    assert errors == [], errors  # no script error, nothing refused by the CSP


def bound(lower: int, upper: int) -> int:
    """The IOI bound of the smart guesser: floor(log2 3N) + 1."""
    return (3 * (upper - lower + 1)).bit_length()


def check_game(shown: list[browser.Seen], lower: int, upper: int, secret: int) -> None:
    """Every step holds the secret; the interval never grows and ends at it."""
    width = upper - lower
    for step in shown:
        low, high = int(step.low), int(step.high)
        assert low <= secret <= high, step
        assert high - low <= width, step
        width = high - low
    last = shown[-1]
    assert last.low == last.high == str(secret)
    count = int(last.count)
    assert count == len(shown) - 1 <= bound(lower, upper)
    assert str(secret) in last.result and str(count) in last.result


def drawn_interval(page: Any, lower: int, upper: int) -> tuple[float, float]:
    """Where the number line draws what is still possible, in range units."""
    box = page.eval_on_selector(
        "#play-line rect.possible", "r => [r.x.baseVal.value, r.width.baseVal.value]"
    )
    # The line runs from x=30 to x=970 of the drawing; the band is padded by 3.
    scale = (upper - lower) / 940 if upper > lower else 1
    return lower + (box[0] + 3 - 30) * scale, lower + (box[0] + box[1] - 3 - 30) * scale


@pytest.mark.parametrize("backend", ["asyncio", "threads"])
@pytest.mark.parametrize("lang", [Lang.EN, Lang.KO])
def test_whole_games_by_clicking(
    page: Any, web_servers: dict[str, RunningServer], backend: str, lang: Lang
) -> None:
    web_server = web_servers[backend]
    browser.open_page(page, url_of(web_server), lang)
    assert page.get_by_role("alert").count() == 0
    before = len(web_server.records)
    for lower, upper, secret in SECRETS:
        shown = browser.play(page, lower, upper, secret, lang)
        check_game(shown, lower, upper, secret)
    assert page.get_by_role("alert").count() == 0
    page.goto("about:blank")  # the last game ends with its connection
    records = web_server.wait_for_records(before + len(SECRETS))[before:]
    assert [r.outcome.value for r in records] == ["won"] * len(SECRETS)
    assert {r.backend for r in records} == {WEB_BACKEND}


def test_the_drawn_interval_holds_the_secret_and_shrinks(page: Any, base_url: str) -> None:
    lower, upper, secret = 1, 1000, 618
    browser.open_page(page, base_url, Lang.EN)
    browser.new_game(page, lower, upper, Lang.EN)
    judge = Judge(secret)
    widths = []
    while True:
        guess = int(page.get_by_test_id("guess").text_content())
        decision = judge.judge(guess)
        browser.answer(page, decision, Lang.EN)
        if decision is Decision.CORRECT:
            break
        browser.wait_count(page, len(widths) + 2)
        left, right = drawn_interval(page, lower, upper)
        assert left - 1 <= secret <= right + 1, (left, right)
        widths.append(right - left)
    assert widths == sorted(widths, reverse=True) and widths[-1] < widths[0] / 8


@pytest.mark.parametrize("lang", [Lang.EN, Lang.KO])
def test_a_whole_game_by_keyboard_alone(
    page: Any, base_url: str, web_server: Any, lang: Lang
) -> None:
    browser.open_page(page, base_url, lang)
    for _ in range(20):  # Tab to the first input, as a person would
        if page.evaluate("document.activeElement.id") == "lower":
            break
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "lower"
    page.keyboard.press("Control+A")
    page.keyboard.type("-20")
    page.keyboard.press("Tab")
    page.keyboard.press("Control+A")
    page.keyboard.type("300")
    page.keyboard.press("Enter")
    shown = browser.play(page, -20, 300, 123, lang, keys=True)
    check_game(shown, -20, 300, 123)
    # The game over, focus is on New game: Enter starts the next one.
    assert page.evaluate("document.activeElement.id") == "new-game"
    page.keyboard.press("Enter")
    shown = browser.play(page, -20, 300, -20, lang, keys=True)
    check_game(shown, -20, 300, -20)


@pytest.mark.parametrize(
    "lang,words", [(Lang.EN, "contradict"), (Lang.KO, "대답이 서로 맞지 않습니다")]
)
def test_contradicting_answers_raise_the_alert(
    page: Any, base_url: str, lang: Lang, words: str
) -> None:
    from playwright.sync_api import expect

    browser.open_page(page, base_url, lang)
    browser.new_game(page, 1, 100, lang)
    alert = page.get_by_role("alert")
    # Unsure after Unsure pins the secret to one midpoint, then to another.
    for count in range(2, 8):
        browser.answer(page, Decision.UNSURE, lang)
        next_guess = page.locator(f"[data-testid=count]:text-is('{count}')")
        expect(alert.or_(next_guess)).to_be_visible(timeout=browser.TIMEOUT_MS)
        if alert.count():
            break
    assert alert.count() == 1
    assert words in alert.text_content()
    # The page's own model found nothing possible, as the server did.
    assert page.get_by_test_id("low").text_content() == ""
    assert page.get_by_test_id("high").text_content() == ""
    assert page.get_by_test_id("result").text_content() == ""
    # A new game clears it.
    browser.new_game(page, 1, 10, lang)
    assert alert.count() == 0


@pytest.mark.parametrize("backend", ["asyncio", "threads"])
def test_the_watch_view_finishes_both_games(
    page: Any, web_servers: dict[str, RunningServer], backend: str
) -> None:
    web_server = web_servers[backend]
    browser.open_page(page, url_of(web_server), Lang.EN, "#watch")
    page.get_by_label("From").fill("1")
    page.get_by_label("To").fill("60")
    page.get_by_label("Secret").fill("37")
    page.get_by_label("Speed").select_option("20")
    before = len(web_server.records)
    page.get_by_role("button", name="Watch", exact=True).click()
    for name in ("smart", "random"):
        result = page.get_by_test_id(f"watch-{name}-result")
        browser.wait_result(page, f"watch-{name}-result", timeout=30_000)
        assert "37" in result.text_content()
        assert page.get_by_test_id(f"watch-{name}-low").text_content() == "37"
    assert int(page.get_by_test_id("watch-smart-count").text_content()) <= bound(1, 60)
    page.goto("about:blank")
    records = web_server.wait_for_records(before + 2)[before:]
    assert sorted(r.strategy for r in records) == ["random", "smart"]
    assert all(r.outcome.value == "won" and r.backend == WEB_BACKEND for r in records)


@pytest.mark.parametrize("lang", [Lang.KO, Lang.EN])
def test_a_phone_sized_screen(chromium: Any, base_url: str, lang: Lang, tmp_path: Any) -> None:
    page = chromium.new_page(viewport={"width": 360, "height": 740}, has_touch=True)
    try:
        for view in ("", "#watch"):
            browser.open_page(page, base_url, lang, view)
            assert page.evaluate("document.documentElement.scrollWidth") <= 360
        browser.open_page(page, base_url, lang)
        shown = browser.play(page, 1, 10**6, 271828, lang)
        check_game(shown, 1, 10**6, 271828)
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        page.screenshot(path=str(tmp_path / f"phone-{lang.value}.png"), full_page=True)
    finally:
        page.close()


def test_korean_by_default_whatever_the_browser_speaks(chromium: Any, base_url: str) -> None:
    page = chromium.new_page(locale="en-US")
    try:
        browser.open_page(page, base_url)  # no ?lang=
        low_label, high_label, button = browser.WORDS[Lang.KO]
        assert page.get_by_label(low_label, exact=True).count() == 1
        assert page.get_by_label(high_label, exact=True).count() == 1
        assert page.get_by_role("button", name=button, exact=True).count() == 1
        for decision in (Decision.WARMER, Decision.COLDER, Decision.UNSURE, Decision.CORRECT):
            assert page.locator(f".answer[data-decision={decision.value}]").text_content() == (
                f"{browser.KEYS[decision]}{decision.token(Lang.KO)}"
            )
    finally:
        page.close()


def test_a_new_game_started_before_a_guess_arrives_shows_only_its_own(
    page: Any, base_url: str
) -> None:
    """New game twice in a row, the first game's guess still on its way: the
    page shows the second game's guess, never the first's."""
    browser.open_page(page, base_url, Lang.EN)
    browser.new_game(page, 1, 100, Lang.EN)  # the socket is open
    page.evaluate(
        """() => {
            const set = (lower, upper) => {
                document.getElementById("lower").value = lower;
                document.getElementById("upper").value = upper;
                document.getElementById("new-game").click();
            };
            set("1", "100");
            set("5", "5");
        }"""
    )
    page.locator("[data-testid=guess]:text-is('5')").wait_for(timeout=browser.TIMEOUT_MS)
    page.wait_for_timeout(300)  # time for a stray reply to show, if it would
    shown = browser.seen(page)
    assert (shown.guess, shown.low, shown.high, shown.count) == ("5", "5", "5", "1")


def test_the_page_computes_what_the_smart_guesser_computes(page: Any, base_url: str) -> None:
    """The page's model of what is still possible (search.js) against
    strategies/smart.py's bounds, over random report sequences, honest or
    contradictory, on small ranges and on the whole 64-bit one."""
    rng = random.Random(61)
    ranges = [(1, 5), (1, 100), (-10, 10), (0, 1), (7, 7), (1, 10**6)]
    ranges += [(INT64_MIN, INT64_MAX), (INT64_MAX - 40, INT64_MAX), (INT64_MIN, INT64_MIN + 9)]
    cases = []
    for _ in range(300):
        lower, upper = rng.choice(ranges)
        smart = SmartStrategy(lower, upper)
        steps = []
        for _ in range(rng.randint(1, 12)):
            guess = rng.randint(lower, upper)
            decision = rng.choice([Decision.WARMER, Decision.COLDER, Decision.UNSURE])
            smart.guessed.add(guess)
            smart.observe(guess, decision)
            try:
                smart.check_candidates()
                expected: list[str] | None = [str(smart.a), str(smart.b)]
            except Exception:
                expected = None
            steps.append([str(guess), decision.value, expected])
        cases.append([str(lower), str(upper), steps])
    sizes = [1, 2, 3, 5, 100, 2200, 10**6, 2**53 + 1, 2**64]
    judged = [[rng.randint(-50, 50), [rng.randint(-50, 50) for _ in range(10)]] for _ in range(50)]
    browser.open_page(page, base_url, Lang.EN)
    got = page.evaluate(
        """async ([cases, sizes, judged]) => {
            const m = await import('/search.js');
            const bounds = cases.map(([lower, upper, steps]) => {
                const s = new m.Search(BigInt(lower), BigInt(upper));
                return steps.map(([guess, decision]) => {
                    s.observe(BigInt(guess), decision);
                    const b = s.bounds();
                    return b === null ? null : [b.low.toString(), b.high.toString()];
                });
            });
            const most = sizes.map((n) => m.maxGuesses(BigInt(n)));
            const judges = judged.map(([secret, guesses]) => {
                const j = new m.Judge(BigInt(secret));
                return guesses.map((g) => j.judge(BigInt(g)));
            });
            return [bounds, most, judges];
        }""",
        [cases, [str(n) for n in sizes], judged],
    )
    bounds, most, judges = got
    assert bounds == [[step[2] for step in steps] for _, _, steps in cases]
    assert any(step is None for case in bounds for step in case)  # contradictions seen
    assert most == [bound(1, n) for n in sizes]
    for (secret, guesses), decisions in zip(judged, judges, strict=True):
        judge = Judge(secret)
        assert decisions == [judge.judge(g).value for g in guesses]


def test_the_screenshot(chromium: Any, base_url: str, tmp_path: Any) -> None:
    """docs/web.png is made by this code path (docs/web_screenshot.py)."""
    path = tmp_path / "web.png"
    browser.screenshot(chromium, base_url, path)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width == 960 and height >= 700
