"""Debian's chromium, headless, on the real viewer beside the real collector."""

import importlib.util
import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ARTIFACTS, require, require_tool
from tests.test_viewer_process import COLLECTOR, VIEWER, Spawn, get, start_collector, start_viewer

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIP = re.compile(r"^\d\d:\d\d:\d\d · \d+\.\d %")


@pytest.mark.slow
def test_page_in_chromium(tmp_path: Path, spawn: Spawn, base_env: dict[str, str]) -> None:
    chromium = require_tool("chromium")
    require(importlib.util.find_spec("playwright") is not None, "needs the playwright package")
    from playwright.sync_api import sync_playwright

    db = tmp_path / "cpuload.db"
    start_collector(spawn, [*COLLECTOR, "--db", str(db), "--interval", "0.5"], base_env)
    _, base = start_viewer(spawn, [*VIEWER, "--db", str(db), "--port", "0"], base_env)
    deadline = time.monotonic() + 15
    while get(base + "healthz")[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    requests: list[str] = []
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 1000})
        page.on("request", lambda r: requests.append(r.url))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(base + "?minutes=15")
        for chart in ("#instant svg", "#average svg"):
            box = page.locator(chart).bounding_box()
            assert box and box["width"] > 500 and box["height"] > 100, chart
        _hover_shows_a_value(page)
        _charts_update_in_place(page)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "viewer.png"), full_page=True)
        browser.close()
    assert requests and all(u.startswith(base) for u in requests), requests
    assert not problems, problems  # a CSP violation would show here


def _hover_shows_a_value(page: Any) -> None:
    """Point at the newest sample: the tip shows its time and value."""
    meta = page.evaluate(
        "JSON.parse(document.querySelector('#instant metadata.cpuload-data').textContent)"
    )
    x_newest = meta["x0"] + (meta["points"][-1][0] - meta["t0"]) / (meta["t1"] - meta["t0"]) * (
        meta["x1"] - meta["x0"]
    )
    box = page.locator("#instant svg").bounding_box()
    scale = box["width"] / 960
    page.mouse.move(box["x"] + x_newest * scale, box["y"] + box["height"] / 2)
    tip = page.locator("#instant .tip")
    tip.wait_for(state="visible", timeout=5000)
    assert TIP.match(tip.inner_text()), tip.inner_text()


def _charts_update_in_place(page: Any) -> None:
    """New samples reach both charts without a page load."""
    page.evaluate("window.cpuloadMarker = 1")
    count = "JSON.parse(document.querySelector('#instant metadata').textContent).points.length"
    before = page.evaluate(count), page.locator("#average svg").inner_html()
    page.wait_for_function(
        f"([n, b]) => {count} > n && document.querySelector('#average svg').innerHTML !== b",
        arg=list(before),
        timeout=15000,
    )
    assert page.evaluate("window.cpuloadMarker") == 1  # not reloaded
