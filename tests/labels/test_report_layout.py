"""The report tells the truth and reads on a phone and a wide screen.

Built with `inv report` on a rebuilt collection; checked as HTML, then in headless Chromium at
400 px and 1280 px (Debian chromium and chromium-driver).
"""

from __future__ import annotations

import os
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.report_parts import Line, nice_ceiling, score_bar, trend_legend, trend_svg
from inv.cli import main
from tests.labels.test_rebuild import CAT, L1, dog_scenario
from tests.labels.world import World

ARTIFACTS = Path(
    os.environ.get(
        "INV_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "build" / "test-artifacts"
    )
)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
CAR = 2


def test_a_gap_is_drawn_as_a_gap_on_the_stated_scale() -> None:
    svg = trend_svg(["a", "b", "c", "d"], [Line("ear", [1.0, None, 0.8, 0.75], -0.1)], 2.0)
    # Three points, one line through the two neighbours with data, nothing at layer 2.
    assert svg.count("<circle") == 3 and svg.count("<polyline") == 1
    (points,) = re.findall(r'points="([^"]+)"', svg)
    assert len(points.split()) == 2
    assert "at layer 2" not in svg
    ticks = re.findall(r'text-anchor="end" font-size="13">([^<]+)<', svg)
    assert ticks == ["0", "0.5", "1", "1.5", "2"]  # fixed axis from 0, the stated scale
    assert [nice_ceiling(v) for v in (0.0, 0.3, 0.85, 1.0, 2.2, 7)] == [1, 0.5, 1, 1, 2.5, 10]


# Concept names are typed by the crowd: markup, quotes, entities, control-free Unicode.
names = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40)


@settings(max_examples=200, deadline=None)
@given(
    name=names,
    means=st.lists(
        st.one_of(st.none(), st.floats(min_value=0, max_value=1e6)), min_size=1, max_size=6
    ),
)
def test_crowd_names_stay_text_in_the_svg_and_legend(name: str, means: list) -> None:
    line = Line(name, means, 0.5)
    svg = trend_svg([f"layer {i}" for i in range(len(means))], [line], 2.0)
    root = ET.fromstring(svg)  # well-formed: nothing the crowd typed opened or closed a tag
    titles = [t.text for t in root.iter("title")]
    assert len(titles) == sum(m is not None for m in means)
    assert all(t.startswith(f"{name}: ") for t in titles)  # the name, unchanged, as text
    legend = ET.fromstring(trend_legend([line]))
    assert "".join(legend.itertext()).startswith(name)
    assert "width:100%" in score_bar(1e6, 1.0) and "width:0%" in score_bar(0.0, 1.0)


@pytest.fixture
def report(world: World, tmp_path: Path) -> Path:
    dog_scenario(world)
    p = world.participant(trust=1.0)
    world.play(p, world.cluster(CAT, 0, L1, 0), ["whiskers"])
    world.play(p, world.cluster(CAR, 0, L1, 0), ["wheel"])
    assert main(["rebuild", "--quiet"]) == 0
    out = tmp_path / "report.html"
    assert main(["report", "--out", str(out)]) == 0
    return out


def test_report_html_tells_the_truth(report: Path) -> None:
    page = report.read_text(encoding="utf-8")
    classes = re.findall(r'<article class="class"><h3>([^<]+)</h3>', page)
    assert classes == ["car", "cat", "dog"]  # by name, not by index (dog is 0)
    assert 'id="guide"' in page and "How to read this" in page
    for term in ("w (weight)", "score", "(2.5)", "no data, not zero", 'class="colourbar"'):
        assert term in page, term
    assert '<img class="chart"' not in page  # no text baked into pictures
    assert page.count('<svg class="trend"') == 1  # dog's grass fades; the others have no trend
    assert "Fading with depth" in page and "Rising with depth" not in page  # no empty group
    assert ">none<" not in page
    assert not re.search(r"\d\d:\d\d:\d\d\.\d", page)  # no microseconds anywhere
    assert re.search(r"built \d{4}-\d\d-\d\d \d\d:\d\d UTC", page)


@pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER) and os.environ.get("CI") != "true",
    reason="Debian chromium and chromium-driver are not installed",
)
@pytest.mark.parametrize("width", [400, 1280])
def test_layout_in_chromium(report: Path, width: int) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or "chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER or "chromedriver"), options=options)

    def viewport(height: int) -> None:
        # Headless windows are at least 500 px wide; the device metrics set the real viewport.
        metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600}
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)

    try:
        viewport(1000)
        driver.get(report.resolve().as_uri())
        inner = driver.execute_script("return document.documentElement.clientWidth")
        assert width - 20 <= inner <= width  # (less a scroll bar on the desktop)
        # Nothing sticks out sideways: the page never scrolls horizontally.
        assert driver.execute_script("return document.documentElement.scrollWidth") <= inner
        used = driver.execute_script(
            "return document.querySelector('#global').getBoundingClientRect().width"
        )
        assert used >= 0.9 * inner  # the content fills the window, not half of it
        tops = driver.execute_script(
            "return Array.from(document.querySelectorAll('.card')).map("
            "c => Math.round(c.getBoundingClientRect().top))"
        )
        if width >= 1280:
            assert len(set(tops)) < len(tops)  # cards side by side
        else:
            assert len(set(tops)) == len(tops)  # stacked on a phone
        smallest = driver.execute_script(
            "return Math.min(...Array.from(document.querySelectorAll('svg.trend text')).map("
            "t => t.getBoundingClientRect().height))"
        )
        assert smallest >= 11, f"chart text {smallest:.1f} px tall at {width} px"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        height = driver.execute_script("return document.documentElement.scrollHeight")
        viewport(min(height, 6000))
        assert driver.save_screenshot(str(ARTIFACTS / f"report-{width}px.png"))
    finally:
        driver.quit()
