"""The demo's page, and the reports in a real browser: Playwright driving Debian's Chromium
(``apt install chromium``; the README's test section) opens the demo and a hardware-sweep
report, and checks that every image loads, no table runs past the page, the swept columns
show, and the demo's first screen reads plainly.  One small demo serves every test here; the
one that reads its page without a browser runs where Chromium is missing."""

import os
import re
import shutil
from html.parser import HTMLParser

import pytest

from reports.demo import DEMO_BATCHES, DEMO_CONTEXTS, DEMO_MODELS, DEMO_WORKLOADS, demo_validation, run_demo
from reports.report import write_sweep_report
from reports.sweep import load_sweep, run_sweep

CHROMIUM = os.environ.get("SCANSIM_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.slow]

#: as the machine's notes advise: headless, no sandbox (root), no network chatter
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api", reason="Playwright is in the test extra")
    if CHROMIUM is None:
        pytest.skip("no Chromium: `apt install chromium` (Debian) to run it")
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
    """One small demo for the tests below: one chip, two lengths, the validation sets in brief."""
    return run_demo(tmp_path_factory.mktemp("demo"), seq_lens=(256, 1024), presets=("groq-lpu-style",), workers=1,
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


@pytest.mark.slow
def test_demo_writes_a_page_whose_images_exist(demo):
    """(No browser needed: it reads the page the demo wrote.)"""
    index = demo
    parser = _Refs()
    parser.feed(index.read_text())
    assert parser.images
    for src in parser.images:
        png = index.parent / src
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = (index.parent / "results.csv").read_text().splitlines()
    algorithms = sum(len(a) for a in DEMO_WORKLOADS.values())
    models = len(DEMO_MODELS) * len(DEMO_CONTEXTS) * len(DEMO_BATCHES)
    assert len(rows) == 1 + algorithms * 2 + models  # header + (workload, algorithm) × T + model points
    page = index.read_text()
    assert "kogge-stone" in page and "quasi-deer" in page and "blocked" in page
    # the page opens with what was simulated, then the findings in words computed from the
    # results, how far to trust them, and the findings chip by chip (closed) below
    assert (page.index("design points") < page.index("Findings</h2>") < page.index("times as long as")
            < page.index("How far to trust these numbers</h2>") < page.index("<details>")
            < page.index("is the fastest mixer"))
    assert "On groq-lpu-style at T = 1,024" in page and "lstm-2048 (nonlinear RNN, sequential)" in page
    assert "No model fits groq-lpu-style" in page  # the model-level finding: 230 MB of SRAM
    assert "validation.png" in parser.images and "Validation (kernels) cases" in index.read_text()
    assert "Validation (recurrent) cases" in page and "validation-recurrent.png" in parser.images
    assert "kernels set" in page and "recurrent set, held-out half" in page
    # where tuning each chip's mappings changes (or keeps) the winner, computed by the search
    assert "chunk sizes, circuits, blocks and fusion changes" in page
    assert "On groq-lpu-style at T = 1,024, with each mixer&#39;s mapping tuned for the chip" in page


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs)["src"])
