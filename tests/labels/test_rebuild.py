"""The rebuild on a constructed database: hand-computed scores, merges, top concepts and points;
incremental behaviour; concept identity; charts and the JSON document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image as PILImage
from sqlalchemy import delete, select, text

from engine import rebuild as rebuild_module
from engine.global_explanations.overlays import merged_map
from engine.render import load_map
from storage.db import session_scope
from storage.models import (
    Answer,
    AnswerConcept,
    Concept,
    Generation,
    GlobalExplanation,
    MergedCluster,
    Participant,
    PhraseEmbedding,
)
from tests.labels.world import World
from tests.shell import rebuild

L0, L1 = "features.10", "features.29"
DOG, CAT = 0, 1


def dog_scenario(w: World) -> dict[str, Any]:
    """Class 0 ("dog"): two images A, B; layer L1 clusters of weight 60 and 30, layer L0 too.

    Hand-computed (trust P1 0.5, P2 1.0, P3 0.25):
      A/L1/rank0: ear  f=1.5 p̄=7/3 correct → 1.15;  tail f=1 p̄=3 → 0.7          best ear
      A/L1/rank1: ear  f=1.25 p̄=0.4 correct → 1.2; grass (resign, level 5) → 0.0625 best ear
        → merged (ear): weight 90, ear (60·1.15+30·1.2)/90 = 7/6, tail 0.7·60/90, grass 0.0625·30/90
      B/L1/rank0: tail f=0.75 p̄=4/3 correct → 0.65                                best tail
      B/L1/rank1: ear  f=1 level 5 → 0.5                                           best ear
      B/L0/rank0: grass f=1 level 0 → 1.0                                          best grass
    """
    p1 = w.participant(trust=0.5, points=999)
    p2 = w.participant(trust=1.0)
    p3 = w.participant(trust=0.25)
    a = {}
    a["p1_a1"] = w.play(p1, w.cluster(DOG, 0, L1, 0), ["ears"], hint_level=1, provisional=[5])
    a["p2_a1"] = w.play(p2, w.cluster(DOG, 0, L1, 0), ["the ear", "tail"], hint_level=3)
    a["p2_a2"] = w.play(p2, w.cluster(DOG, 0, L1, 1), ["Ears!"], streak_points=5)
    a["p3_a2"] = w.play(p3, w.cluster(DOG, 0, L1, 1), ["cat ear"], hint_level=2, correct=False)
    a["p1_a2"] = w.play(p1, w.cluster(DOG, 0, L1, 1), ["grass"], outcome="resign", correct=None)
    a["p1_b1"] = w.play(
        p1, w.cluster(DOG, 1, L1, 0), ["tail", "tail again"], accepted=[True, False]
    )
    a["p3_b1"] = w.play(
        p3, w.cluster(DOG, 1, L1, 0), ["tails", "dog"], hint_level=4, provisional=[0, 3]
    )
    a["p2_b2"] = w.play(p2, w.cluster(DOG, 1, L1, 1), ["ear"], hint_level=5)
    a["p2_b3"] = w.play(p2, w.cluster(DOG, 1, L0, 0), ["grass"])
    return {"participants": (p1, p2, p3), "answers": a}


def _payloads(engine: Any, class_index: int) -> dict[str, dict[str, Any]]:
    with session_scope(engine, readonly=True) as s:
        current = s.exec(select(Generation.id).where(Generation.is_current)).one()[0]
        rows = s.exec(
            select(GlobalExplanation).where(
                GlobalExplanation.generation == current,
                GlobalExplanation.class_index == class_index,
            )
        ).all()
        return {r[0].layer_name: r[0].payload | {"_chart": r[0].chart_file} for r in rows}


def snapshot(engine: Any) -> dict[str, list[tuple[Any, ...]]]:
    tables = [
        "concept", "answer_concept", "merged_cluster", "global_explanation", "generation",
        "participant", "answer", "phrase_embedding",
    ]  # fmt: skip
    with engine.connect() as conn:
        return {
            t: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY 1"))]
            for t in tables
        }


def chart_files(data_dir: Path) -> dict[str, int]:
    charts = data_dir / "charts"
    return {
        p.relative_to(data_dir).as_posix(): p.stat().st_mtime_ns
        for p in charts.rglob("*")
        if p.is_file()
    }


def test_first_rebuild_matches_hand_computed_values(world: World) -> None:
    scenario = dog_scenario(world)
    p1, p2, p3 = scenario["participants"]
    stages: list[tuple[str, float]] = []
    report = rebuild(progress=lambda stage, f: stages.append((stage, f)))
    assert report.ok, report.error
    assert report.ran and report.generation == 1 and report.classes_rebuilt == [DOG]
    assert report.answers == 10 and report.concepts == 3
    assert report.charts == 3  # two layers and the trend chart
    assert report.embedded >= 3
    assert stages[-1] == ("done", 1.0)
    assert [f for _, f in stages] == sorted(f for _, f in stages)
    # The stage timings that benchmarks and logs read, in the order the stages run.
    assert list(report.timings) == [
        "prepare", "load", "clean", "embed", "group", "score", "tcav", "charts", "switch",
    ]  # fmt: skip
    assert "Generation 1" in report.summary()

    with session_scope(world.engine, readonly=True) as s:
        concepts = {c.name: c for (c,) in s.exec(select(Concept)).all()}
        assert set(concepts) == {"ear", "tail", "grass"}
        ear, tail, grass = concepts["ear"].id, concepts["tail"].id, concepts["grass"].id
        assert all(c.first_generation == c.last_generation == 1 for c in concepts.values())

        merged = {tuple(m.member_cluster_ids): m for (m,) in s.exec(select(MergedCluster)).all()}
        a = (world.cluster(DOG, 0, L1, 0), world.cluster(DOG, 0, L1, 1))
        b1, b2, b3 = (
            world.cluster(DOG, 1, L1, 0),
            world.cluster(DOG, 1, L1, 1),
            world.cluster(DOG, 1, L0, 0),
        )
        assert set(merged) == {a, (b1,), (b2,), (b3,)}
        ma = merged[a]
        assert ma.weight == 90.0 and ma.n_maps == 7 and ma.best_concept_id == ear
        assert ma.best_score == pytest.approx(7 / 6)
        assert ma.label_scores[str(ear)] == pytest.approx(7 / 6)
        assert ma.label_scores[str(tail)] == pytest.approx(0.7 * 60 / 90)
        assert ma.label_scores[str(grass)] == pytest.approx(0.0625 * 30 / 90)
        assert merged[(b1,)].best_concept_id == tail and merged[(b1,)].best_score == pytest.approx(
            0.65
        )
        assert merged[(b2,)].best_score == pytest.approx(0.5)
        assert merged[(b3,)].best_concept_id == grass and merged[(b3,)].best_score == pytest.approx(
            1.0
        )

        # The merged map is the weight-averaged map of its members, stored as a map file.
        members = [
            load_map(world.data_dir / world.map_file(world.cluster(DOG, 0, L1, r))) for r in (0, 1)
        ]
        stored = load_map(world.data_dir / ma.map_file)
        assert np.allclose(stored, merged_map(members, [60.0, 30.0]), atol=1e-4)
        assert merged[(b1,)].map_file == world.map_file(world.cluster(DOG, 1, L1, 0))

        # Reconciled agreement bonus: an answer earns it when another player gave the concept
        # on the same cluster before.
        answers = scenario["answers"]
        bonus = {ac.answer_id: ac.bonus_points for (ac,) in s.exec(select(AnswerConcept)).all()}
        assert bonus[answers["p1_a1"][0]] == 0
        assert bonus[answers["p2_a1"][0]] == 10  # after P1's "ears"
        assert bonus[answers["p3_a2"][0]] == 10  # after P2's "Ears!"
        assert bonus[answers["p3_b1"][0]] == 10  # after P1's "tail"
        assert answers["p3_b1"][1] not in bonus  # "dog" cleans to nothing: no concept
        assert answers["p1_b1"][1] not in bonus  # not accepted
        assert sum(bonus.values()) == 30

        # points = guess + streak + per answer reconciled bonus, else the provisional one.
        points = {p.id: p.points for (p,) in s.exec(select(Participant)).all()}
        assert points[p1] == 90 + 0 + 100  # P1's provisional 5 reconciled to 0
        assert points[p2] == 70 + 100 + 50 + 100 + 5 + 10
        assert points[p3] == 0 + 60 + 10 + 10 + 3  # "dog" keeps its provisional 3

        # Raw text is kept; the cleaned phrase is recorded.
        rows = {r.id: r for (r,) in s.exec(select(Answer)).all()}
        assert (
            rows[answers["p2_a2"][0]].label == "Ears!"
            and rows[answers["p2_a2"][0]].cleaned == "ear"
        )
        assert rows[answers["p3_a2"][0]].cleaned == "ear"  # the guessed class "cat" stripped
        assert rows[answers["p3_b1"][1]].cleaned == ""
        stored_phrases = {e.phrase for (e,) in s.exec(select(PhraseEmbedding)).all()}
        assert {"ear", "tail", "grass"} <= stored_phrases

    payloads = _payloads(world.engine, DOG)
    top1 = payloads[L1]["concepts"]
    assert [(c["name"], c["score"], c["weight"], c["clusters"]) for c in top1] == [
        ("ear", pytest.approx(7 / 6 + 0.5, abs=1e-6), pytest.approx(60.0), 2),
        ("tail", pytest.approx(0.65, abs=1e-6), pytest.approx(60.0), 1),
    ]
    assert [e["image_id"] for e in top1[0]["examples"]] == [
        world.images[(DOG, 0)],
        world.images[(DOG, 1)],
    ]
    assert payloads[L1]["images"] == 2 and payloads[L1]["class_name"] == "dog"
    top0 = payloads[L0]["concepts"]
    assert [(c["name"], c["score"], c["weight"]) for c in top0] == [("grass", 1.0, 60.0)]
    # Trends: mean per image of the concept's scores at each layer, and the slope.
    # ear was never named at L0: no data there (a gap), so no slope from one layer.
    assert top1[0]["layer_means"] == [None, pytest.approx((7 / 6 + 0.5) / 2, abs=1e-6)]
    assert top1[0]["slope"] is None
    assert top0[0]["slope"] == pytest.approx(0.0625 * 30 / 90 / 2 - 1.0, abs=1e-6)
    # Only concepts named at both layers have a slope; ear and tail appear at L1 alone.
    assert payloads[L1]["rising"] == []

    # Files: a phone-sized PNG per layer, the trend chart, example overlays, the JSON document.
    for payload in payloads.values():
        chart = world.data_dir / payload["_chart"]
        with PILImage.open(chart) as img:
            assert img.format == "PNG" and img.width == 744
        assert (
            payload["_chart"].startswith("charts/") and payload["chart_file"] == payload["_chart"]
        )
        for concept in payload["concepts"]:
            for example in concept["examples"]:
                assert (world.data_dir / example["overlay_file"]).is_file()
    assert (world.data_dir / payloads[L1]["trend_chart_file"]).is_file()
    document = json.loads((world.data_dir / "charts/global_explanations.json").read_text())
    assert document["generation"] == 1
    assert [c["class_index"] for c in document["classes"]] == [DOG]
    assert [layer["layer_name"] for layer in document["classes"][0]["layers"]] == [L0, L1]


def concepts_by_id(payload: dict[str, Any], concept_id: int) -> str:
    return next(t["name"] for t in payload["trends"] if t["concept_id"] == concept_id)


def test_second_rebuild_without_new_answers_embeds_and_changes_nothing(world: World) -> None:
    dog_scenario(world)
    assert rebuild().ok
    before, files = snapshot(world.engine), chart_files(world.data_dir)
    rebuild_module.clear_pipelines()  # as a fresh process would: vectors come from the database
    report = rebuild()
    assert report.ok and report.classes_rebuilt == [] and report.embedded == 0
    assert report.generation == 1
    assert "Nothing new" in report.summary()
    assert snapshot(world.engine) == before
    assert chart_files(world.data_dir) == files


def test_new_answers_rebuild_only_their_class(world: World) -> None:
    dog_scenario(world)
    p = world.participant(trust=0.5)
    world.play(p, world.cluster(CAT, 0, L1, 0), ["whiskers", "pointy ears"])
    first = rebuild()
    assert first.ok and first.classes_rebuilt == [DOG, CAT]
    dog_before = _payloads(world.engine, DOG)
    with session_scope(world.engine, readonly=True) as s:
        dog_concepts = {
            (c.id, c.name) for (c,) in s.exec(select(Concept).where(Concept.class_index == DOG))
        }
    files = chart_files(world.data_dir)

    q = world.participant(trust=0.5)
    world.play(q, world.cluster(CAT, 1, L1, 0), ["whiskers"])
    world.play(q, world.cluster(CAT, 1, L1, 1), ["striped tail"])
    world.play(q, world.cluster(CAT, 0, L1, 0), ["whisker"])
    rebuild_module.clear_pipelines()
    second = rebuild()
    assert second.ok and second.generation == 2 and second.classes_rebuilt == [CAT]
    # Only phrases never seen before go through the model: "striped tail" and its words (a
    # pattern word stays in the phrase; a size word such as "long" would be dropped).
    assert 1 <= second.embedded <= 3
    assert _payloads(world.engine, DOG) == dog_before  # carried over, charts not redrawn
    after = chart_files(world.data_dir)
    for name, mtime in files.items():
        if "class-0000-dog" in name:
            assert after[name] == mtime
    # The cat's panel shows new content under a new name; the old one is gone.
    cat_charts = {p["chart_file"] for p in _payloads(world.engine, CAT).values()}
    old_cat = {n for n in files if n.startswith("charts/class-0001-cat/c0001-")}
    assert cat_charts and not cat_charts & old_cat
    assert {n for n in after if n.startswith("charts/class-0001-cat/c0001-")} == cat_charts
    with session_scope(world.engine, readonly=True) as s:
        assert {
            (c.id, c.name) for (c,) in s.exec(select(Concept).where(Concept.class_index == DOG))
        } == dog_concepts
        links = s.exec(select(AnswerConcept.generation).distinct()).all()
        assert [g for (g,) in links] == [2]
        gens = {g.id: (g.status, g.is_current) for (g,) in s.exec(select(Generation))}
        assert gens == {1: ("done", False), 2: ("done", True)}
    cat = _payloads(world.engine, CAT)[L1]
    whisker = next(c for c in cat["concepts"] if c["name"] == "whisker")
    assert whisker["clusters"] == 2
    # Chart file names are unique without their folders (exports flatten them).
    charts = [
        f
        for c in (DOG, CAT)
        for p in _payloads(world.engine, c).values()
        for f in {p["chart_file"], p["trend_chart_file"]}
        if f is not None
    ]
    # dog: 2 panels + its trend; cat: 1 panel, and no trend chart (nothing rises or fades).
    assert len({Path(f).name for f in charts}) == len(set(charts)) == 4
    assert all(p["trend_chart_file"] is None for p in _payloads(world.engine, CAT).values())


def test_concepts_keep_their_ids_and_names(world: World) -> None:
    dog_scenario(world)
    assert rebuild().ok
    with session_scope(world.engine, readonly=True) as s:
        before = {c.name: c.id for (c,) in s.exec(select(Concept))}
    p = world.participant(trust=0.5)
    world.play(p, world.cluster(DOG, 0, L0, 0), ["pointy ear", "fluffy tail"])
    report = rebuild()
    assert report.ok and report.classes_rebuilt == [DOG]
    with session_scope(world.engine, readonly=True) as s:
        alive = {
            c.name: (c.id, sorted(c.phrases))
            for (c,) in s.exec(select(Concept).where(Concept.last_generation == report.generation))
        }
    assert alive["ear"] == (before["ear"], ["ear", "pointy ear"])  # Jaccard 1/2: same concept
    assert alive["tail"] == (before["tail"], ["fluffy tail", "tail"])
    assert alive["grass"][0] == before["grass"]
    # A full rebuild recomputes everything, embeds nothing new and keeps the ids.
    full = rebuild(full=True)
    assert full.ok and full.full and full.classes_rebuilt == [DOG] and full.embedded == 0
    with session_scope(world.engine, readonly=True) as s:
        again = {
            c.name: c.id
            for (c,) in s.exec(select(Concept).where(Concept.last_generation == full.generation))
        }
    assert again == {name: cid for name, (cid, _) in alive.items()}


def test_deleted_participant_triggers_their_class(world: World) -> None:
    scenario = dog_scenario(world)
    p = world.participant(trust=0.5)
    world.play(p, world.cluster(CAT, 0, L1, 0), ["whiskers"])
    assert rebuild().ok
    cat_before = _payloads(world.engine, CAT)
    p3 = scenario["participants"][2]
    with session_scope(world.engine) as s:
        s.exec(delete(Participant).where(Participant.id == p3))
    report = rebuild()
    assert report.ok and report.classes_rebuilt == [DOG]
    assert _payloads(world.engine, CAT) == cat_before
    with session_scope(world.engine, readonly=True) as s:
        merged = {
            tuple(m.member_cluster_ids): m
            for (m,) in s.exec(
                select(MergedCluster).where(MergedCluster.generation == report.generation)
            )
        }
    # Without P3, A/L1/rank1 scores ear from P2 alone: f = 1, level 0 → 1.0; merged with rank0.
    a = (world.cluster(DOG, 0, L1, 0), world.cluster(DOG, 0, L1, 1))
    assert merged[a].best_score == pytest.approx((60 * 1.15 + 30 * 1.0) / 90)
    b1 = (world.cluster(DOG, 1, L1, 0),)
    assert merged[b1].best_score == pytest.approx(0.5)  # P1's "tail" alone


def test_empty_database_has_nothing_to_rebuild(any_db_engine: Any, isolated_settings: Path) -> None:
    report = rebuild()
    assert report.ok and report.generation is None and report.classes_rebuilt == []
    assert "no generation yet" in report.summary()


def test_a_missing_picture_costs_its_overlay_not_the_rebuild(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    dog_scenario(world)
    world.crop_path(DOG, 0).unlink()
    report = rebuild()
    assert report.ok
    ear = _payloads(world.engine, DOG)[L1]["concepts"][0]
    overlays = {e["image_id"]: e["overlay_file"] for e in ear["examples"]}
    assert overlays[world.images[(DOG, 0)]] is None
    assert overlays[world.images[(DOG, 1)]] is not None
    assert "no overlay for clusters" in caplog.text
