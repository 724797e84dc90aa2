"""The app in a real browser: `streamlit run app.py` and headless Chromium driven by Playwright.

A short comparison (40 days, a small centre, all the schemes: a few seconds) is run through the
page; the results table and the charts must be visible. A full-page screenshot is saved to
test-artifacts/app.png (git-ignored) for a person to look at. Skipped, with the reason, where
Debian's chromium or the playwright package is missing (never `playwright install` here).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("SLOTSIM_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHORT = {
    "Simulated days": "40",
    "Warm-up days (left out of the results)": "10",
    "Demand (applicants per year)": "15000",
    "Centre capacity (appointments per working day)": "50",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def app_url():
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright (python package) is not installed")
    port = _free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    log = open(ARTIFACTS / "streamlit.log", "w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "TQDM_DISABLE": "1"},
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"streamlit did not start; see {log.name}") from None
                time.sleep(0.3)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def test_short_comparison_in_the_browser(app_url):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"), args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(app_url)
            run = page.get_by_role("button", name="Run the comparison")
            expect(run).to_be_visible(timeout=60_000)
            for label, value in SHORT.items():
                box = page.locator(f'input[aria-label="{label}"]')
                box.fill(value)
                box.press("Enter")
                expect(box).to_have_value(value)
            page.wait_for_timeout(500)
            expect(run).to_be_enabled(timeout=30_000)
            run.click()

            expect(page.get_by_role("heading", name="The answer")).to_be_visible(timeout=180_000)
            table = page.locator('[data-testid="stTable"]').first
            expect(table).to_be_visible(timeout=30_000)
            expect(table).to_contain_text("Random allocation (draw)")
            expect(page.get_by_text("does best").first).to_be_visible()
            images = page.locator('[data-testid="stImage"] img')
            expect(images).to_have_count(4, timeout=60_000)
            for i in range(4):
                expect(images.nth(i)).to_be_visible()
                assert images.nth(i).evaluate("img => img.complete && img.naturalWidth > 300")
            expect(page.get_by_role("button", name="Scenario as edited (YAML)")).to_be_visible()
            assert not page.locator('[data-testid="stException"]').count()

            page.wait_for_timeout(1000)
            # The page scrolls inside Streamlit's main section: grow the viewport to take it all.
            mains = '[data-testid="stMain"], section.main, [data-testid="stAppViewContainer"]'
            height = page.evaluate(f"""() => Math.max(document.body.scrollHeight,
                ...Array.from(document.querySelectorAll('{mains}')).map(e => e.scrollHeight))""")
            page.set_viewport_size({"width": 1400, "height": min(int(height) + 50, 12_000)})
            page.wait_for_timeout(1000)
            page.screenshot(path=str(ARTIFACTS / "app.png"), full_page=True)
        finally:
            browser.close()
    assert (ARTIFACTS / "app.png").stat().st_size > 50_000
