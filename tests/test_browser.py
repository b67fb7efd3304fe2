"""End to end in a real browser: the app under ``streamlit run``, driven by Playwright.

Chooses the default (small) dataset, trains a small model and watches the live chart
gain points, looks up a product's neighbours and opens the embedding map, saving a
screenshot of each page under ``test-output/screenshots/``. Needs Debian's ``chromium``
(``apt-get install -y chromium``); skipped with the reason when it is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "test-output" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium not found: apt-get install -y chromium"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    cache = tmp_path_factory.mktemp("browser-cache")
    env = dict(
        os.environ,
        RECSYS_DEFAULT_PRODUCTS="1500",
        RECSYS_DEFAULT_MAP_METHOD="pca",
        RECSYS_CACHE_DIR=str(cache),
    )
    env.pop("RECSYS_RUNS_DB", None)
    log = open(cache / "streamlit.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("localhost", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"streamlit exited: {(cache / 'streamlit.log').read_text()}")
                time.sleep(0.3)
        yield f"http://localhost:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_train_watch_lookup_and_map(server: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.set_default_timeout(30_000)
        try:
            # Home / Data: choose the default dataset.
            page.goto(server)
            expect(page.get_by_text("Item embeddings from product graphs")).to_be_visible()
            page.get_by_role("button", name="Load dataset").click()
            expect(page.get_by_text("1,500", exact=True)).to_be_visible()
            expect(page.locator(".js-plotly-plot").first).to_be_visible()
            page.screenshot(path=str(SHOTS / "1-data.png"), full_page=True)

            # Train: start a small run and watch the chart gain points.
            nav = page.locator("[data-testid='stSidebarNav']")
            nav.get_by_text("Train", exact=True).click()
            page.get_by_role("button", name="Start training").click()
            final = page.locator("[data-testid='stMetricLabel']", has_text="AUC all")
            counts = []
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                text = " ".join(page.get_by_text(re.compile(r"\d+ reports")).all_inner_texts())
                found = re.findall(r"(\d+) reports", text)
                if found:
                    counts.append(int(found[-1]))
                if final.count() and counts:
                    break
                time.sleep(0.4)
            assert counts, "the live chart never showed a report"
            assert max(counts) > min(counts) or max(counts) >= 2, counts
            expect(final).to_be_visible()
            expect(page.locator(".js-plotly-plot").first).to_be_visible()
            page.screenshot(path=str(SHOTS / "2-train.png"), full_page=True)

            # Neighbours: look up a product by part of its ASIN.
            nav.get_by_text("Neighbours", exact=True).click()
            box = page.get_by_role("textbox", name="Product (ASIN or part of a title)")
            expect(box).to_be_visible()
            asin = box.input_value()
            box.fill(asin[:6])
            box.press("Enter")
            expect(page.get_by_text("lookup", exact=False).first).to_be_visible()
            expect(page.locator("[data-testid='stDataFrame']").first).to_be_visible()
            page.screenshot(path=str(SHOTS / "3-neighbours.png"), full_page=True)

            # Embedding map.
            nav.get_by_text("Embedding map", exact=True).click()
            expect(page.get_by_text(re.compile(r"products with a vector"))).to_be_visible()
            expect(page.locator(".js-plotly-plot").first).to_be_visible()
            page.screenshot(path=str(SHOTS / "4-map.png"), full_page=True)
        finally:
            browser.close()
