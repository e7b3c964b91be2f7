"""The rebuild's TCAV stage: marks in the database and the JSON document, for rebuilt classes only."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from sqlmodel import select

from engine import concept_tests
from engine.report import build_report
from engine.tcav import (
    FEW_CLASS_IMAGES,
    FEW_CONCEPT_EXAMPLES,
    NOT_SIGNIFICANT,
    TOO_FEW_EXAMPLES,
    VALIDATED,
)
from inv.settings import get_settings
from storage.db import session_scope
from storage.models import ConceptTest
from tests.labels.tcav_model import use_the_loadable_model
from tests.labels.world import World
from tests.shell import rebuild

L1 = "features.29"


def label_both_images(world: World, class_index: int, label: str) -> None:
    player = world.participant()
    for n in (0, 1):
        world.play(player, world.cluster(class_index, n, L1, 0), [label])


def marks(world: World) -> dict[tuple[int, str, str], dict]:
    document = json.loads((world.data_dir / "charts/global_explanations.json").read_text())
    return {
        (c["class_index"], layer["layer_name"], concept["name"]): concept.get("test")
        for c in document["classes"]
        for layer in c["layers"]
        for concept in layer["concepts"]
    }


def stored(world: World) -> dict[tuple[int, str, str], ConceptTest]:
    with session_scope(world.engine, readonly=True) as s:
        return {
            (t.class_index, t.layer_name, t.concept_name): t
            for t in s.exec(select(ConceptTest)).all()
        }


def test_too_few_examples_are_marked_without_asking_the_network(
    world: World, tmp_path: Path
) -> None:
    label_both_images(world, 0, "ears")
    report = rebuild()
    assert report.ok, report.error
    assert report.concept_tests_skipped is None  # "testnet" cannot be loaded; it was not needed
    assert marks(world)[(0, L1, "ear")] == {
        "verdict": TOO_FEW_EXAMPLES,
        "score": None,
        "p_value": None,
        "examples": 2,
        "images": None,
        "reason": FEW_CONCEPT_EXAMPLES,
    }
    row = stored(world)[(0, L1, "ear")]
    assert (row.verdict, row.examples, row.score, row.generation) == (TOO_FEW_EXAMPLES, 2, None, 1)
    page = build_report(
        tmp_path / "report.html", data_dir=world.data_dir, engine=world.engine
    ).read_text("utf-8")
    assert "<td>too few examples (2)</td>" in page
    assert "Network test of its concepts: 1 too few examples." in page


@pytest.mark.parametrize("world", [10], indirect=True)
def test_a_model_that_cannot_be_loaded_skips_the_stage_with_a_reason(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("MIN_CONCEPT_EXAMPLES", "2")
    get_settings.cache_clear()
    label_both_images(world, 0, "ears")
    with caplog.at_level(logging.WARNING, logger="engine.concept_tests"):
        report = rebuild()
    assert report.ok, report.error
    assert report.concept_tests_skipped and "testnet" in report.concept_tests_skipped
    assert "concept tests skipped" in caplog.text
    assert marks(world)[(0, L1, "ear")] is None
    assert stored(world) == {}


@pytest.mark.parametrize("world", [9], indirect=True)
def test_a_class_with_nine_images_is_too_few_to_score_without_asking_the_network(
    world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MIN_CONCEPT_EXAMPLES", "2")  # the model stays "testnet": not loadable
    get_settings.cache_clear()
    label_both_images(world, 0, "ears")
    report = rebuild()
    assert report.ok, report.error
    assert report.concept_tests_skipped is None  # the network was not needed
    assert marks(world)[(0, L1, "ear")] == {
        "verdict": TOO_FEW_EXAMPLES,
        "score": None,
        "p_value": None,
        "examples": 2,
        "images": 9,
        "reason": FEW_CLASS_IMAGES,
    }
    assert stored(world)[(0, L1, "ear")].verdict == TOO_FEW_EXAMPLES
    page = build_report(
        tmp_path / "report.html", data_dir=world.data_dir, engine=world.engine
    ).read_text("utf-8")
    assert "<td>too few examples (9 class images)</td>" in page


@pytest.mark.parametrize("world", [9], indirect=True)
def test_min_tcav_images_reaches_the_rebuilds_stage(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nine images are enough at MIN_TCAV_IMAGES=9: the stage asks for the network ("testnet"
    # cannot be loaded, so it says so) instead of marking the class too few without asking.
    monkeypatch.setenv("MIN_CONCEPT_EXAMPLES", "2")
    monkeypatch.setenv("MIN_TCAV_IMAGES", "9")
    get_settings.cache_clear()
    label_both_images(world, 0, "ears")
    report = rebuild()
    assert report.ok, report.error
    assert report.concept_tests_skipped and "testnet" in report.concept_tests_skipped
    assert marks(world)[(0, L1, "ear")] is None


@pytest.mark.parametrize("world", [10], indirect=True)
def test_the_network_scores_concepts_of_rebuilt_classes_and_carries_the_others(
    world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_the_loadable_model(world, monkeypatch)
    label_both_images(world, 0, "ears")
    first = rebuild()
    assert first.ok, first.error
    assert first.concept_tests_skipped is None
    mark = marks(world)[(0, L1, "ear")]
    assert mark["verdict"] in (VALIDATED, NOT_SIGNIFICANT)
    assert 0.0 <= mark["score"] <= 1.0 and 0.0 <= mark["p_value"] <= 1.0
    assert (mark["examples"], mark["images"], mark["reason"]) == (2, 10, None)
    assert concept_tests._models == {}  # the network is not kept between rebuilds
    row = stored(world)[(0, L1, "ear")]
    assert row.random_sets == 20 and row.generation == 1

    label_both_images(world, 1, "whiskers")  # only class 1 changes
    second = rebuild()
    assert second.ok and second.classes_rebuilt == [1]
    rows = stored(world)
    assert rows[(0, L1, "ear")].generation == 2  # carried, not recomputed
    assert rows[(0, L1, "ear")].score == row.score
    assert rows[(1, L1, "whisker")].verdict in (VALIDATED, NOT_SIGNIFICANT)
    assert {r.generation for r in rows.values()} == {2}
    page = build_report(
        tmp_path / "report.html", data_dir=world.data_dir, engine=world.engine
    ).read_text("utf-8")
    assert f"{rows[(0, L1, 'ear')].verdict} (TCAV {row.score:.2f}, p " in page
