"""The reports in a real browser: Playwright driving Debian's Chromium (``apt install
chromium``; the README's test section) opens the demo and a hardware-sweep report, and
checks that every image loads, no table runs past the page, the swept columns show, and the
demo's first screen reads plainly."""

import os
import re
import shutil

import pytest

from reports.demo import demo_validation, run_demo
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


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """One small demo for the tests below: one chip, one length, the validation sets in brief."""
    return run_demo(tmp_path_factory.mktemp("demo"), seq_lens=(256,), presets=("groq-lpu-style",), workers=1,
                    validation=demo_validation(quick=True))


def test_the_demo_in_a_browser(browser, demo):
    headers, text = _check(browser, demo)
    assert "latency (µs)" in headers or "latency (ms)" in headers
    assert "times as long as" in text and "Validation (kernels)" in text and "Validation (recurrent)" in text


def test_the_demo_s_first_screen_reads_plainly(browser, demo):
    """At 1280×900 the page opens with the findings as a short list and how far to trust them —
    both validation sets, the recurrent one by its held-out half — in numbers without exponents."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(demo.resolve().as_uri())
    items = page.evaluate("""() => Array.from(document.querySelectorAll('ul.findings > li')).map(li => {
        const box = li.getBoundingClientRect();
        return {text: li.textContent, cls: li.className, top: box.top, shown: box.height > 0}; })""")
    first = page.evaluate("Array.from(document.querySelectorAll('h2')).slice(0, 2).map(h => "
                          "[h.textContent, h.getBoundingClientRect().top])")
    page.close()
    assert [name for name, _ in first] == ["Findings", "How far to trust these numbers"]
    assert all(top < 900 for _, top in first)  # both on the first screen
    shown = [i for i in items if i["shown"]]
    assert 2 <= len([i for i in shown if not i["cls"]]) <= 10  # the key findings: a short list
    for item in items:  # every finding, the closed chip-by-chip ones too
        assert not re.search(r"\d(\.\d+)?e[+-]?\d", item["text"], re.IGNORECASE), item["text"]
        assert not re.search(r"\d×", item["text"]), item["text"]
    trust = [i for i in shown if i["cls"] in ("met", "missed")]
    assert all(i["top"] < 900 for i in trust)
    kernels = [i["text"] for i in trust if "kernels set" in i["text"]]
    recurrent = [i["text"] for i in trust if "recurrent set" in i["text"]]
    assert len(kernels) == len(recurrent) == 1
    assert "held-out half" in recurrent[0] and "within a factor of 2" in recurrent[0]
    assert re.match(r"[✓✗] Targets (met|NOT met): ", recurrent[0]) and re.match(r"[✓✗] Targets", kernels[0])


def test_a_hardware_sweep_report_in_a_browser(browser, tmp_path):
    from pathlib import Path

    spec = load_sweep(Path(__file__).resolve().parents[2] / "examples" / "bandwidth-sobol.yaml")
    index = write_sweep_report(run_sweep(spec, tmp_path / "res"), tmp_path / "rep")
    headers, text = _check(browser, index)
    assert "accelerator.cores" in headers and "accelerator.memory[hbm3].bandwidth (TB/s)" in headers
    assert "Latency vs accelerator.cores" in text and "lowers the best latency" in text
