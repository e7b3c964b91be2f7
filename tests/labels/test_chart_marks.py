"""The panels show each top concept's network verdict (TCAV): drawn after the concept tests, with
the verdict's own words and a symbol, so the mark reads without its colour."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from sqlmodel import select

from engine.global_explanations import drawing as drawing_module
from engine.global_explanations.charts import (
    CAPTION,
    HEADER,
    MARGIN,
    WIDTH,
    PanelRow,
    draw_layer_panel,
    mark_label,
    verdict_mark,
)
from engine.global_explanations.drawing import panel_chart
from engine.tcav import NOT_SIGNIFICANT, TOO_FEW_EXAMPLES, VALIDATED, VERDICTS
from storage.db import session_scope
from storage.models import GlobalExplanation
from tests.labels.tcav_model import use_the_loadable_model
from tests.labels.world import World
from tests.shell import rebuild

L1 = "features.29"


def test_each_verdict_has_its_words_a_symbol_and_a_colour() -> None:
    assert mark_label(VALIDATED) == "✔ validated"
    assert mark_label(NOT_SIGNIFICANT) == "✘ not significant"
    assert mark_label(TOO_FEW_EXAMPLES) == "○ too few examples"
    assert mark_label(None) == "– not tested"  # the report's words for a concept without a test
    marks = [verdict_mark(v) for v in VERDICTS]
    assert [m.text for m in marks] == list(VERDICTS)
    assert len({m.symbol for m in marks}) == len({m.colour for m in marks}) == 3
    assert mark_label("inconclusive\x00") == "? inconclusive"  # a future verdict, drawn as said


def test_the_panel_rows_carry_the_payload_verdicts() -> None:
    payload = {
        "class_name": "dog",
        "layer_name": L1,
        "layer_position": 1,
        "layers": ["features.10", L1],
        "images": 2,
        "concepts": [
            {"name": "ear", "weight": 60.0, "score": 1.5, "clusters": 2, "examples": [],
             "test": {"verdict": VALIDATED, "score": 0.9, "p_value": 0.01, "examples": 2}},
            {"name": "tail", "weight": 30.0, "score": 0.5, "clusters": 1,
             "examples": [{"overlay_file": "charts/overlays/a.jpg"}, {"overlay_file": None}]},
        ],
    }  # fmt: skip
    chart = panel_chart(payload)
    assert chart.title == "dog · features.29"
    assert chart.subtitle == "layer 2 of 2 · 2 images · top 2 concepts"
    assert [(r.name, r.verdict, r.thumbnails) for r in chart.rows] == [
        ("ear", VALIDATED, []),
        ("tail", None, ["charts/overlays/a.jpg"]),
    ]


def _badge(path: Path) -> np.ndarray:
    """The right-hand part of the first row's details line, where the badge is drawn."""
    with PILImage.open(path) as img:
        pixels = np.asarray(img.convert("RGB")).astype(int)
    return pixels[HEADER + 30 : HEADER + CAPTION, WIDTH // 2 : WIDTH - MARGIN]


def test_the_badge_is_drawn_and_differs_per_verdict(tmp_path: Path) -> None:
    badges = {}
    for verdict in (*VERDICTS, None):
        path = tmp_path / f"{verdict}.png"
        draw_layer_panel(
            path, "dog · features.29", "layer 2 of 2", [PanelRow("ear", 60.0, 1.5, 2, [], verdict)]
        )
        badges[verdict] = _badge(path)
    for verdict, badge in badges.items():
        assert (badge < 160).any(), verdict  # dark text pixels: the words are drawn
    names = list(badges)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not np.array_equal(badges[a], badges[b]), (a, b)
    # A validated badge is filled green, a not significant one orange: colour adds to the words.
    assert (np.abs(badges[VALIDATED] - (218, 251, 225)).max(axis=-1) < 8).any()
    assert (np.abs(badges[NOT_SIGNIFICANT] - (255, 237, 213)).max(axis=-1) < 8).any()


@pytest.mark.parametrize("world", [10], indirect=True)  # MIN_TCAV_IMAGES class images
def test_panels_are_drawn_after_the_concept_tests_with_their_verdicts(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_the_loadable_model(world, monkeypatch)
    player = world.participant()
    for n in (0, 1):
        world.play(player, world.cluster(0, n, L1, 0), ["ears"])  # two examples: tested
    world.play(player, world.cluster(0, 0, "features.10", 0), ["grass"])  # one: too few

    stages: list[str] = []
    drawn: list[tuple[str, str, list[str | None]]] = []
    original = drawing_module.draw_layer_panel

    def record(path: Path, title: str, subtitle: str, rows: list[PanelRow]) -> None:
        drawn.append((stages[-1], title, [r.verdict for r in rows]))
        original(path, title, subtitle, rows)

    monkeypatch.setattr(drawing_module, "draw_layer_panel", record)
    report = rebuild(progress=lambda stage, f: stages.append(stage))
    assert report.ok, report.error
    assert report.concept_tests_skipped is None and report.concept_tests == 2

    with session_scope(world.engine, readonly=True) as s:
        verdicts = {
            f"dog · {ge.layer_name}": [c["test"]["verdict"] for c in ge.payload["concepts"]]
            for ge in s.exec(select(GlobalExplanation)).all()
        }
    assert verdicts[f"dog · {L1}"][0] in (VALIDATED, NOT_SIGNIFICANT)  # the network was asked
    assert verdicts["dog · features.10"] == [TOO_FEW_EXAMPLES]
    # Each panel was drawn once, in the charts stage after the tests, with the stored verdicts.
    assert sorted(drawn) == sorted(("charts", title, v) for title, v in verdicts.items())
    assert stages.index("tcav") < stages.index("charts") < stages.index("switch")
