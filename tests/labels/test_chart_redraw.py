"""Charts are drawn only when their content changes (their file name carries its hash), and the
process pool draws the same files as drawing in the rebuild's own process."""

from __future__ import annotations

import multiprocessing
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image as PILImage

from engine.global_explanations import drawing as drawing_module
from engine.global_explanations.drawing import ChartJob, PanelChart, draw_charts, plan_charts
from engine.tcav import NOT_SIGNIFICANT, VALIDATED
from tests.labels.test_rebuild import CAT, DOG, L1, _payloads, chart_files, dog_scenario
from tests.labels.world import World
from tests.shell import rebuild


@pytest.fixture
def draws(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The chart files drawn, in this process (the pool is kept out of it)."""
    drawn: list[str] = []
    original = drawing_module.draw_chart

    def counting(data_dir: Path, job: ChartJob) -> None:
        drawn.append(job.file)
        original(data_dir, job)

    monkeypatch.setattr(drawing_module, "POOL_MIN_CHARTS", 10**6)
    monkeypatch.setattr(drawing_module, "draw_chart", counting)
    return drawn


def _chart_names(world: World, class_index: int) -> set[str]:
    return {
        f
        for p in _payloads(world.engine, class_index).values()
        for f in (p["chart_file"], p["trend_chart_file"])
        if f
    }


def test_only_charts_whose_content_changed_are_drawn(world: World, draws: list[str]) -> None:
    dog_scenario(world)
    world.play(world.participant(), world.cluster(CAT, 0, L1, 0), ["whiskers"])
    first = rebuild()
    assert first.ok and first.classes_rebuilt == [DOG, CAT]
    dog, cat = _chart_names(world, DOG), _chart_names(world, CAT)
    assert sorted(draws) == sorted(dog | cat) and first.charts == len(dog | cat) == 4

    # New answers in the cat's class: its panel changes, nothing of the dog is redrawn.
    draws.clear()
    world.play(world.participant(), world.cluster(CAT, 1, L1, 0), ["striped tail"])
    second = rebuild()
    assert second.ok and second.classes_rebuilt == [CAT]
    new_cat = _chart_names(world, CAT)
    assert draws == sorted(new_cat - cat) and len(draws) == second.charts == 1
    assert _chart_names(world, DOG) == dog

    # Everything recomputed, nothing changed: no chart is drawn, every file stays as it was.
    draws.clear()
    files = chart_files(world.data_dir)
    full = rebuild(full=True)
    assert full.ok and full.classes_rebuilt == [DOG, CAT]
    assert draws == [] and full.charts == 0
    assert _chart_names(world, DOG) == dog and _chart_names(world, CAT) == new_cat
    pictures = {n: t for n, t in chart_files(world.data_dir).items() if not n.endswith(".json")}
    assert pictures == {n: t for n, t in files.items() if not n.endswith(".json")}


def _payload(class_index: int, layer: str, verdict: str, overlays: list[str]) -> dict[str, Any]:
    return {
        "class_index": class_index,
        "class_name": f"class {class_index}",
        "layer_name": layer,
        "depth": int(layer.split(".")[1]),
        "layer_position": 0,
        "layers": ["features.10", "features.29"],
        "images": 2,
        "concepts": [
            {"concept_id": 1, "name": "ear", "weight": 60.0, "score": 1.5, "clusters": 2,
             "examples": [{"overlay_file": f} for f in overlays],
             "test": {"verdict": verdict}},
        ],
        "rising": [1],
        "falling": [],
        "trends": [{"concept_id": 1, "name": "ear", "means": [0.1, 0.9], "slope": 0.8}],
    }  # fmt: skip


def _rows(overlay: str) -> list[dict[str, Any]]:
    return [
        {"class_index": c, "payload": _payload(c, layer, verdict, [overlay])}
        for c in (0, 1)
        for layer, verdict in (("features.10", VALIDATED), ("features.29", NOT_SIGNIFICANT))
    ]


def _data_dir(root: Path) -> Path:
    root.mkdir()
    pixels = np.random.default_rng(3).integers(0, 255, (224, 224, 3), dtype=np.uint8)
    PILImage.fromarray(pixels).save(root / "overlay.jpg", quality=90)
    return root


def test_the_pool_draws_the_same_files_as_this_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(drawing_module, "POOL_MIN_CHARTS", 2)
    outcomes, files = [], []
    for name, workers in (("here", 1), ("pool", 2)):
        data_dir = _data_dir(tmp_path / name)
        jobs = plan_charts(_rows("overlay.jpg"))
        outcome = draw_charts(data_dir, jobs, workers=workers)
        outcomes.append(outcome)
        files.append({job.file: (data_dir / job.file).read_bytes() for job in jobs})
    here, pool = outcomes
    assert here.processes == 0 and pool.processes == 2
    assert len(here.drawn) == len(pool.drawn) == 6 and not here.failures and not pool.failures
    assert files[0] == files[1]  # same names (content hashes) and same bytes

    # Drawn again: every file exists, nothing is drawn.
    again = draw_charts(tmp_path / "pool", plan_charts(_rows("overlay.jpg")), workers=2)
    assert again.drawn == [] and len(again.reused) == 6


@pytest.mark.parametrize("workers", [1, 2])
def test_a_chart_that_fails_fails_its_class_only(
    workers: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(drawing_module, "POOL_MIN_CHARTS", 2)
    data_dir = _data_dir(tmp_path / "data")
    rows = _rows("overlay.jpg")
    rows[3]["payload"]["concepts"][0]["examples"] = [{"overlay_file": "missing.jpg"}]  # class 1
    outcome = draw_charts(data_dir, plan_charts(rows), workers=workers)
    assert set(outcome.failures) == {1} and isinstance(outcome.failures[1], FileNotFoundError)
    assert {job.class_index for job in outcome.drawn} == {0, 1}  # class 1's other charts too
    assert len(outcome.drawn) == 5


def test_the_verdict_and_the_drawing_code_are_part_of_the_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = _rows("overlay.jpg")
    names = [job.file for job in plan_charts(rows)]
    assert names == [job.file for job in plan_charts(_rows("overlay.jpg"))]  # stable
    rows[1]["payload"]["concepts"][0]["test"]["verdict"] = VALIDATED
    changed = [job.file for job in plan_charts(rows)]
    assert [a == b for a, b in zip(names, changed, strict=True)] == [True] * 2 + [False] + [
        True
    ] * 3
    monkeypatch.setattr(drawing_module, "drawing_version", lambda: "new drawing code")
    assert not set(names) & {job.file for job in plan_charts(_rows("overlay.jpg"))}


@dataclass(frozen=True)
class _DiesInAWorker:
    """A chart whose drawing kills the pool worker drawing it (as running out of memory would);
    drawn in the rebuild's own process, it is an ordinary panel."""

    panel: PanelChart

    def draw(self, data_dir: Path, path: Path) -> None:
        if multiprocessing.parent_process() is not None:
            os._exit(1)
        self.panel.draw(data_dir, path)


def test_a_broken_pool_leaves_its_charts_to_this_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(drawing_module, "POOL_MIN_CHARTS", 2)
    data_dir = _data_dir(tmp_path / "data")
    jobs = plan_charts(_rows("overlay.jpg"))
    jobs[1] = replace(jobs[1], chart=_DiesInAWorker(jobs[1].chart))
    outcome = draw_charts(data_dir, jobs, workers=2)
    assert outcome.failures == {} and len(outcome.drawn) == len(jobs) == 6
    assert all((data_dir / job.file).is_file() for job in jobs)
    assert "the process pool failed" in caplog.text
