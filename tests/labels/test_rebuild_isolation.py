"""Hostile label text and failing classes: the rebuild keeps publishing every class it can."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from engine.global_explanations import drawing as drawing_module
from storage.db import session_scope
from storage.models import Concept, Generation, GlobalExplanation
from tests.labels.world import World
from tests.shell import rebuild

L0, L1 = "features.10", "features.29"
DOG, CAT = 0, 1
MATH_LABEL = "wheel$^{$x"


def _current(world: World) -> int:
    with session_scope(world.engine, readonly=True) as s:
        return s.exec(select(Generation.id).where(Generation.is_current)).one()[0]


def _payloads(world: World, class_index: int) -> dict[str, dict[str, Any]]:
    with session_scope(world.engine, readonly=True) as s:
        rows = s.exec(
            select(GlobalExplanation).where(
                GlobalExplanation.generation == _current(world),
                GlobalExplanation.class_index == class_index,
            )
        ).all()
        return {r[0].layer_name: r[0].payload for r in rows}


def _top_names(world: World, class_index: int) -> set[str]:
    return {c["name"] for p in _payloads(world, class_index).values() for c in p["concepts"]}


def _seed(world: World) -> None:
    for labels, class_index in ((["ear"], DOG), (["whiskers"], CAT)):
        for _ in range(2):
            world.play(world.participant(), world.cluster(class_index, 0, L1, 0), labels)


def test_math_text_label_from_two_accounts_leaves_the_rebuild_working(world: World) -> None:
    _seed(world)
    assert rebuild().ok
    # Two accounts agree on a label that matplotlib would parse as (broken) mathtext.
    for _ in range(2):
        world.play(world.participant(), world.cluster(DOG, 1, L1, 0), [MATH_LABEL])
    report = rebuild()
    assert report.ok and report.failed == {}, report.summary()
    assert report.classes_rebuilt == [DOG]
    assert any("wheel" in name for name in _top_names(world, DOG))
    # Later rebuilds keep working too.
    world.play(world.participant(), world.cluster(CAT, 1, L1, 0), ["fur"])
    later = rebuild()
    assert later.ok and later.classes_rebuilt == [CAT] and later.failed == {}


def test_a_failing_class_keeps_its_previous_rows_and_the_others_publish(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _seed(world)
    first = rebuild()
    assert first.ok and first.classes_rebuilt == [DOG, CAT]
    dog_before = _payloads(world, DOG)
    assert _top_names(world, DOG) == {"ear"}

    original = drawing_module.draw_layer_panel

    def draw_or_fail(path: Any, title: str, *args: Any, **kwargs: Any) -> None:
        if title.startswith("dog"):
            raise RuntimeError("chart broke")
        original(path, title, *args, **kwargs)

    monkeypatch.setattr(drawing_module, "draw_layer_panel", draw_or_fail)
    for labels, class_index in ((["snout"], DOG), (["fur"], CAT)):
        for _ in range(2):
            world.play(world.participant(), world.cluster(class_index, 1, L1, 0), labels)

    second = rebuild()
    assert second.ok, second.error
    assert second.generation == first.generation + 1 == _current(world)
    assert second.classes_rebuilt == [CAT]
    assert second.failed == {DOG: "RuntimeError"} == second.new_failures
    assert "Failed, previous results kept: 0 (RuntimeError)" in second.summary()
    assert "chart broke" in caplog.text
    # The dog keeps the previous generation's rows, carried into the new generation.
    assert _payloads(world, DOG) == dog_before
    assert _top_names(world, CAT) >= {"fur"}
    with session_scope(world.engine, readonly=True) as s:
        dog_concepts = {
            c.name
            for (c,) in s.exec(select(Concept).where(Concept.class_index == DOG)).all()
            if c.first_generation <= second.generation <= c.last_generation
        }
        assert dog_concepts == {"ear"}  # "snout" waits for a rebuild that succeeds
        gen = s.get(Generation, second.generation)
        assert gen is not None and gen.failed_classes == {"0": "RuntimeError"}

    # Tried again on the next rebuild; a failure already reported is not new.
    third = rebuild()
    assert third.ok and third.failed == {DOG: "RuntimeError"} and third.new_failures == {}
    assert _payloads(world, DOG) == dog_before

    monkeypatch.setattr(drawing_module, "draw_layer_panel", original)
    fourth = rebuild()
    assert fourth.ok and fourth.classes_rebuilt == [DOG] and fourth.failed == {}
    assert "snout" in _top_names(world, DOG)
