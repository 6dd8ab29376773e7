"""Debian's chromium, headless, on the real viewer beside the real collector.

One history for every check: an hour at 5 s written as a collector would have (its run
stopped cleanly a minute ago), then the real collector appending at 5 s. The page is driven
as people use it: a mouse, a finger, the arrow keys, the window links, a phone's width; and
the bytes an open page costs are counted over a minute.
"""

import importlib.util
import json
import random
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.schema import migrate
from tests.conftest import ARTIFACTS, Child, require, require_tool, wait_for
from tests.test_viewer_process import COLLECTOR, VIEWER, Spawn, get, start_collector, start_viewer

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LIMIT_PER_HOUR = 10_000_000  # bytes an open live 1 h page may transfer in an hour
TIP = re.compile(r"\d\d:\d\d:\d\d · \d+\.\d %")


def history(db: Path, now: float) -> None:
    """An hour at 5 s up to a minute ago, modes included, from a run that stopped cleanly."""
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    conn = sqlite3.connect(db, isolation_level=None)
    migrate(conn)
    end = (now - 60) // 5 * 5
    conn.execute(
        "INSERT INTO runs (started, interval, pid, version, stopped, boot_id, booted)"
        " VALUES (?, 5, 1, 'history', ?, ?, ?)",
        (end - 3700, end + 0.5, boot, end - 90_000),
    )
    rng, cpu, rows = random.Random(7), 12.0, []
    for k in range(740):
        ts = end - 5 * (739 - k)
        if 300 <= k < 330:
            continue  # a gap of 2.5 minutes inside the run, with no pause recorded: unknown
        cpu = min(max(cpu + rng.gauss(0, 1.5), 0.5), 95.0)
        user, system = int(cpu * 62), int(cpu * 30)
        softirq = int(cpu * 100) - user - system
        rows.append((ts, int(cpu * 100) / 100, user, 0, system, 0, softirq, 0, rng.randint(0, 90)))
    conn.executemany("INSERT INTO samples VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.close()


@pytest.fixture
def served(tmp_path: Path, spawn: Spawn, base_env: dict[str, str]) -> Iterator[tuple[str, Child]]:
    require(importlib.util.find_spec("playwright") is not None, "needs the playwright package")
    db = tmp_path / "cpuload.db"
    history(db, time.time())
    collector = start_collector(spawn, [*COLLECTOR, "--db", str(db), "--interval", "5"], base_env)
    _, base = start_viewer(spawn, [*VIEWER, "--db", str(db), "--port", "0"], base_env)
    wait_for(lambda: get(base + "healthz")[0] == 200, 20, "the first sample")
    yield base, collector


@pytest.mark.slow
def test_the_page_in_chromium(served: tuple[str, Child]) -> None:
    chromium = require_tool("chromium")
    from playwright.sync_api import sync_playwright

    base, collector = served
    requests: list[str] = []
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=ARGS)
        desk = browser.new_page(viewport={"width": 1100, "height": 1800})
        desk.on("request", lambda r: requests.append(r.url))
        desk.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        desk.on("pageerror", lambda e: problems.append(str(e)))
        sent = _count_bytes(desk)
        desk.goto(base)
        _three_charts_and_bands(desk)
        _mouse_hover_shows_a_value_and_a_rule(desk)
        _arrow_keys_step_through_the_points(desk)
        _bytes_in_a_minute_on_the_live_hour(desk, sent)
        _nothing_while_the_tab_is_hidden(desk, requests)
        ARTIFACTS.mkdir(exist_ok=True)
        desk.screenshot(path=str(ARTIFACTS / "viewer.png"), full_page=True)
        _past_windows_never_ask_again(desk)
        phone = browser.new_page(viewport={"width": 390, "height": 844}, has_touch=True)
        phone.on("pageerror", lambda e: problems.append(str(e)))
        phone.goto(base + "?minutes=1440")
        _nothing_clipped_or_overlapping(phone)
        _a_tap_shows_a_value(phone)
        phone.screenshot(path=str(ARTIFACTS / "viewer-phone.png"), full_page=True)
        desk.goto(base)
        collector.stop()
        _a_stopped_collector_shows_within_three_intervals(desk)
        browser.close()
    assert requests and all(u.startswith(base) for u in requests), requests
    assert not problems, problems  # a CSP violation would show here


def _count_bytes(page: Any) -> list[int]:
    """Bytes on the wire (headers and bodies, as received) per finished request."""
    sent: list[int] = []
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.on("Network.loadingFinished", lambda e: sent.append(int(e["encodedDataLength"])))
    return sent


def _three_charts_and_bands(page: Any) -> None:
    for chart in ("#instant svg", "#average svg", "#modes svg"):
        box = page.locator(chart).bounding_box()
        assert box and box["width"] > 500 and box["height"] > 100, chart
    band = page.locator("#instant rect.band.cause-unknown").first
    assert band.bounding_box()["height"] > 100  # the plot's full height
    title = band.locator("title").text_content()
    assert "gap " in title and "2 min 35 s" in title and "unknown" in title
    assert page.locator("#instant rect.band.cause-collector-stopped").count() == 1
    assert page.locator("#modes path.mode-user").count() == 1


def _mouse_hover_shows_a_value_and_a_rule(page: Any) -> None:
    box = page.locator("#instant svg").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] / 2)
    tip = page.locator("#instant .tip")
    tip.wait_for(state="visible", timeout=5000)
    assert TIP.search(tip.inner_text()), tip.inner_text()
    assert page.locator("#instant line.rule").get_attribute("visibility") == "visible"


def _arrow_keys_step_through_the_points(page: Any) -> None:
    page.locator("#average .chart").focus()
    page.keyboard.press("End")
    tip = page.locator("#average .tip")
    tip.wait_for(state="visible", timeout=5000)
    newest = tip.inner_text()
    page.keyboard.press("ArrowLeft")
    before = tip.inner_text()
    assert before != newest and "minute " in before and " samples" in before
    x = page.locator("#average line.rule").get_attribute("x1")
    page.keyboard.press("ArrowRight")
    assert tip.inner_text() == newest
    assert page.locator("#average line.rule").get_attribute("x1") != x


def _bytes_in_a_minute_on_the_live_hour(page: Any, sent: list[int]) -> None:
    """A minute of the open page, extrapolated to an hour, within 10 MB; samples keep coming."""
    page.mouse.move(0, 0)
    newest = page.locator("#age").get_attribute("data-ts")
    sent.clear()
    started = time.monotonic()
    page.wait_for_timeout(60_000)
    seconds = time.monotonic() - started
    per_hour = sum(sent) * 3600 / seconds
    ARTIFACTS.mkdir(exist_ok=True)
    figure = {"bytes_per_hour": per_hour, "seconds": seconds, "requests": len(sent)}
    (ARTIFACTS / "live-page-bytes.json").write_text(json.dumps(figure))
    assert 0 < per_hour <= LIMIT_PER_HOUR, figure
    assert page.locator("#age").get_attribute("data-ts") != newest  # new samples arrived


HIDE = """() => {
    performance.setResourceTimingBufferSize(100000);
    Object.defineProperty(document, "hidden", {value: true, configurable: true});
    Object.defineProperty(document, "visibilityState", {value: "hidden", configurable: true});
    document.dispatchEvent(new Event("visibilitychange"));
    return performance.now();
}"""


def _nothing_while_the_tab_is_hidden(page: Any, requests: list[str]) -> None:
    """No request starts after the tab is hidden, even when it hides half-way through a poll.

    The tab is hidden while the poll's "instant" part is on its way (held by a route until
    then), so the parts after it are still to ask. The page's own resource timing tells which
    requests started after the hide; one already under way then is not counted against it.
    """
    hidden_at: list[float] = []

    def hide_then_answer(route: Any) -> None:
        hidden_at.append(page.evaluate(HIDE))
        route.continue_()

    page.route(re.compile(r"part=instant"), hide_then_answer)
    # A poll asks for the parts once a new sample changed the state: within two polls.
    page.wait_for_event("request", lambda r: "part=instant" in r.url, timeout=25_000)
    deadline = time.monotonic() + 5
    while not hidden_at and time.monotonic() < deadline:
        page.wait_for_timeout(20)  # lets the route handler run; the hide is its first step
    assert hidden_at, "the route never held the instant part"
    page.unroute(re.compile(r"part=instant"))
    page.wait_for_timeout(12_000)  # longer than the page waits between two asks (10 s)
    started = page.evaluate(
        """(t) => performance.getEntriesByType("resource")
            .filter((e) => e.startTime >= t).map((e) => e.name)""",
        hidden_at[0],
    )
    assert started == [], started
    count = len(requests)
    page.evaluate(
        """() => {
        Object.defineProperty(document, "hidden", {value: false, configurable: true});
        Object.defineProperty(document, "visibilityState", {value: "visible", configurable: true});
        document.dispatchEvent(new Event("visibilitychange"));
    }"""
    )
    wait_for(lambda: len(requests) > count, 5, "a poll as soon as the tab shows again")


def _past_windows_never_ask_again(page: Any) -> None:
    page.click("nav a:text('6 h')")
    page.wait_for_url(re.compile(r"minutes=360"))
    page.click("a[rel=prev]")
    page.wait_for_url(re.compile(r"minutes=360&end="))
    assert "does not refresh" in page.locator(".span").inner_text()
    page.wait_for_timeout(12_000)  # a live page would have asked once by now
    # The page's own resource timing: what its script fetched since it loaded (the browser's
    # own favicon request, which may come after the load, is not the page asking).
    asked = page.evaluate(
        """() => performance.getEntriesByType("resource")
            .filter((e) => e.initiatorType === "fetch").map((e) => e.name)"""
    )
    assert asked == [], asked
    page.click("a[rel=next]")  # back to a window that reaches now: live again
    page.wait_for_url(re.compile(r"minutes=360$"))
    assert page.locator("body").get_attribute("data-live") == "1"


def _nothing_clipped_or_overlapping(page: Any) -> None:
    for chart in ("#instant svg", "#average svg", "#modes svg"):
        boxes = page.evaluate(
            """(sel) => {
            const svg = document.querySelector(sel), r = svg.getBoundingClientRect();
            const texts = [...svg.querySelectorAll(".axis text")].map((t) => {
                const b = t.getBoundingClientRect();
                const axis = t.closest(".axis").classList.contains("x") ? "x" : "y";
                return {x: b.left, y: b.top, w: b.width, h: b.height, axis, text: t.textContent};
            }).filter((b) => b.w > 0);
            return {svg: {x: r.left, y: r.top, w: r.width, h: r.height}, texts};
        }""",
            chart,
        )
        frame = boxes["svg"]
        for b in boxes["texts"]:
            inside = (
                b["x"] >= frame["x"] - 0.5
                and b["y"] >= frame["y"] - 0.5
                and b["x"] + b["w"] <= frame["x"] + frame["w"] + 0.5
                and b["y"] + b["h"] <= frame["y"] + frame["h"] + 0.5
            )
            assert inside, (chart, b, frame)
        for a in boxes["texts"]:
            for b in boxes["texts"]:
                if a is b:
                    continue
                apart = (
                    a["x"] + a["w"] <= b["x"] + 0.5
                    or b["x"] + b["w"] <= a["x"] + 0.5
                    or a["y"] + a["h"] <= b["y"] + 0.5
                    or b["y"] + b["h"] <= a["y"] + 0.5
                )
                assert apart, (chart, a, b)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # Each gap's cause shows without scrolling sideways.
    cause = page.locator("#gaps td[data-label=cause]").first.bounding_box()
    assert cause and cause["x"] + cause["width"] <= 390, cause


def _a_tap_shows_a_value(page: Any) -> None:
    """A finger on the newest column of the day (an hour of history: the rest is a gap)."""
    page.locator("#instant svg").scroll_into_view_if_needed()
    x = page.evaluate(
        """() => {
        const svg = document.querySelector("#instant svg");
        const d = JSON.parse(svg.querySelector("metadata").textContent);
        const t = d.steps.reduce((a, b) => a + b, d.t0);
        const x = d.x0 + (t - d.t0) * (d.x1 - d.x0) / (d.t1 - d.t0);
        return new DOMPoint(x, 0).matrixTransform(svg.getScreenCTM()).x;
    }"""
    )
    box = page.locator("#instant svg").bounding_box()
    page.touchscreen.tap(x - 1, box["y"] + box["height"] / 2)
    tip = page.locator("#instant .tip")
    tip.wait_for(state="visible", timeout=5000)
    assert re.search(r"mean \d+\.\d %", tip.inner_text()), tip.inner_text()


def _a_stopped_collector_shows_within_three_intervals(page: Any) -> None:
    # A function, not an expression: the page's CSP forbids eval, which an expression needs.
    page.wait_for_function(
        "() => document.querySelector('#state .badge').textContent === 'not running'",
        timeout=15_000,
    )
