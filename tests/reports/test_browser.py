"""The reports in a real browser: Playwright driving Debian's Chromium (``apt install
chromium``; the README's test section) opens the demo and a hardware-sweep report, and
checks that every image loads, no table runs past the page, and the swept columns show."""

import os
import shutil

import pytest

from reports.demo import run_demo
from reports.report import write_sweep_report
from reports.sweep import load_sweep, run_sweep

playwright = pytest.importorskip("playwright.sync_api", reason="Playwright is in the test extra")
CHROMIUM = os.environ.get("SCANSIM_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="no Chromium: `apt install chromium` (Debian) to run it")]

#: as the machine's notes advise: headless, no sandbox (root), no network chatter
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


def _check(browser, index, viewport_width=1280):
    page = browser.new_page(viewport={"width": viewport_width, "height": 900})
    page.goto(index.resolve().as_uri())
    images = page.evaluate("Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, i.naturalWidth])")
    assert images and all(done and width > 0 for _, done, width in images), images
    overflow = page.evaluate("""() => {
        const limit = document.documentElement.clientWidth;
        return Array.from(document.querySelectorAll('div.table'))
            .map(d => d.getBoundingClientRect().right).filter(r => r > limit + 1).length; }""")
    assert overflow == 0
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1")
    headers = page.evaluate("Array.from(document.querySelectorAll('th')).map(t => t.textContent)")
    text = page.inner_text("body")
    page.close()
    return headers, text


def test_the_demo_in_a_browser(browser, tmp_path):
    index = run_demo(tmp_path / "demo", seq_lens=(256,), presets=("groq-lpu-style",), workers=1)
    headers, text = _check(browser, index)
    assert "latency (µs)" in headers or "latency (ms)" in headers
    assert "is the fastest mixer" in text and "Validation (kernels)" in text


def test_a_hardware_sweep_report_in_a_browser(browser, tmp_path):
    from pathlib import Path

    spec = load_sweep(Path(__file__).resolve().parents[2] / "examples" / "bandwidth-sobol.yaml")
    index = write_sweep_report(run_sweep(spec, tmp_path / "res"), tmp_path / "rep")
    headers, text = _check(browser, index)
    assert "accelerator.cores" in headers and "accelerator.memory[hbm3].bandwidth (TB/s)" in headers
    assert "Latency vs accelerator.cores" in text and "lowers the best latency" in text
