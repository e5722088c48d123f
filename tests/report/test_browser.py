"""The reports in a real browser: headless Chromium (the system's, driven by Playwright)
opens them from file://. No console errors, no network requests, every chart drawn with the
series its data describes and showing values on hover, the sweep table sorts, the every-key
toggle works, links lead to the trials' reports, and a malicious string stays text.

Skipped without /usr/bin/chromium or Playwright; `.ci/run` installs both when it runs as root
under CI."""

import json
import shutil
from pathlib import Path

import pytest

from nnctl import atomic
from nnctl.report import write_report
from nnctl.runs import RunFolder
from tests.report.pages import read_page

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def _missing():
    missing = []
    if not CHROMIUM.exists():
        missing.append("Chromium at /usr/bin/chromium (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("Playwright (pip install playwright, or pip install -e '.[dev]')")
    return missing


pytestmark = pytest.mark.skipif(
    bool(_missing()),
    reason="browser tests need " + " and ".join(_missing()) + " (.ci/run installs Chromium "
    "when run as root with CI=true; the dev extra brings Playwright)",
)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A headless Chromium with a fresh profile, shared by this module's tests."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=ARGS,
            viewport={"width": 1200, "height": 900},
        )
        yield context
        context.close()


class Opened:
    """A page opened from file://, with what happened while it loaded and ran."""

    def __init__(self, browser, path):
        self.errors, self.requests, self.dialogs = [], [], []
        self.page = page = browser.new_page()
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        page.goto(path.resolve().as_uri())
        page.wait_for_load_state("load")
        self.url = path.resolve().as_uri()

    def check_clean(self):
        assert self.errors == []
        assert self.requests == [self.url]  # the file itself and nothing else
        assert self.dialogs == []


def check_charts(opened, html_path):
    """Every chart of the page's data is drawn: a canvas with ink on it, one drawn series per
    series in the data, each with as many points as the x axis."""
    specs = read_page(html_path).data()["charts"]
    assert specs
    for spec in specs:
        drawn = opened.page.evaluate(
            """id => {
                const chart = window.nnctlCharts[id];
                const canvas = document.querySelector('#' + id + ' canvas');
                const pixels = canvas.getContext('2d')
                    .getImageData(0, 0, canvas.width, canvas.height).data;
                let ink = 0;
                for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) ink++;
                return {series: chart.series.length - 1, lengths: chart.data.map(d => d.length),
                        ink: ink, rendered: document.getElementById(id).dataset.rendered};
            }""",
            spec["id"],
        )
        assert drawn["series"] == len(spec["series"]) == int(drawn["rendered"])
        assert set(drawn["lengths"]) == {len(spec["x"]["values"])}
        assert drawn["ink"] > 1000, spec["id"]


def test_a_run_report_in_the_browser(browser, made, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(made.run, run)
    path = write_report(run)
    opened = Opened(browser, path)
    opened.check_clean()
    check_charts(opened, path)
    page = opened.page
    legend = "#chart-accuracy .u-legend .u-series:nth-child(2) .u-value"
    assert page.inner_text(legend) == "–"
    over = page.locator("#chart-accuracy .u-over")
    box = over.bounding_box()
    over.hover(position={"x": box["width"] - 2, "y": box["height"] / 2})  # the last epoch
    history = RunFolder(run).read_history()
    assert float(page.inner_text(legend)) == pytest.approx(history[-1]["train_acc"], abs=1e-3)
    page.screenshot(path=str(tmp_path / "run.png"), full_page=True)
    assert (tmp_path / "run.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_sweep_report_sorts_toggles_and_links(browser, made, tmp_path):
    sweep = tmp_path / "sweep"
    shutil.copytree(made.sweep, sweep, symlinks=True)
    path = write_report(sweep)
    opened = Opened(browser, path)
    opened.check_clean()
    check_charts(opened, path)
    page = opened.page
    summaries = {
        int(p.name): json.loads((p / "summary.json").read_text())
        for p in (sweep / "trials").iterdir()
    }
    scored = sorted(v["best_val_acc"] for v in summaries.values() if "best_val_acc" in v)
    unscored = len(summaries) - len(scored)
    column = page.locator("#trials th", has_text="best val acc")
    index = page.evaluate("th => th.cellIndex", column.element_handle())

    def shown():
        return page.evaluate(
            f"""() => Array.from(document.querySelectorAll('#trials tbody tr'))
                  .map(r => r.cells[{index}].dataset.v)"""
        )

    column.click()
    assert column.get_attribute("aria-sort") == "ascending"
    assert shown() == [str(v) for v in scored] + [""] * unscored  # no value: last
    column.click()
    assert column.get_attribute("aria-sort") == "descending"
    assert shown() == [str(v) for v in reversed(scored)] + [""] * unscored
    trial_column = page.locator("#trials th", has_text="trial").first
    trial_column.click()
    numbers = page.evaluate(
        "() => Array.from(document.querySelectorAll('#trials tbody tr'))"
        ".map(r => r.cells[0].dataset.v)"
    )
    assert numbers == [str(n) for n in sorted(summaries)]

    same = page.locator("#trials td.same").first
    assert not same.is_visible()
    page.check("#all-keys")
    assert same.is_visible()
    page.screenshot(path=str(tmp_path / "sweep.png"), full_page=True)

    page.click("#trials tbody tr:first-child td:first-child a")
    page.wait_for_load_state("load")
    assert page.url.endswith("/trials/001/report.html")
    assert "run report" in page.inner_text("header")
    assert opened.errors == [] and opened.dialogs == []


def test_a_malicious_string_is_shown_as_text(browser, made, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(made.run, run)
    report = json.loads((run / "eval.json").read_text())
    report["test"]["class_names"][0] = "<script>alert(1)</script>"
    atomic.write_text(run / "eval.json", json.dumps(report))
    RunFolder(run).update_summary(error="<img src=x onerror=alert(2)>")
    opened = Opened(browser, write_report(run))
    opened.check_clean()  # no alert ran and no image was fetched
    assert opened.page.get_by_text("<img src=x onerror=alert(2)>").count() == 1
    assert (
        opened.page.locator("table.confusion").get_by_text("<script>alert(1)</script>").count() >= 1
    )
