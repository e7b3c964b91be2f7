"""The agreement rule: a concept counts on a cluster once two different players gave it there."""

from __future__ import annotations

import pytest
from sqlmodel import select

from engine.labels.scores import Vote, label_scores
from inv.settings import get_settings
from storage.db import session_scope
from storage.models import Concept, MergedCluster
from tests.labels.test_rebuild import DOG, L0, L1, dog_scenario
from tests.labels.world import World
from tests.shell import rebuild


def _vote(
    answer: int, participant: int, concept: int, cluster: int = 1, play: int | None = None
) -> Vote:
    return Vote(answer, play or answer, participant, cluster, concept, 1.0, 0.0, True)


def test_single_players_words_do_not_score() -> None:
    votes = [_vote(1, 10, 7), _vote(2, 11, 7), _vote(3, 12, 8), _vote(4, 10, 9, play=1)]
    assert label_scores(votes, min_agreement=1) == {1: {7: 2.0, 8: 1.0, 9: 1.0}}
    # Concept 9 was given twice, but by one player: not an agreement.
    assert label_scores(votes, min_agreement=2) == {1: {7: 2.0}}
    assert label_scores(votes, min_agreement=3) == {}


def test_rebuild_keeps_only_agreed_concepts(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    dog_scenario(world)
    monkeypatch.setenv("MIN_AGREEMENT", "2")
    get_settings.cache_clear()
    report = rebuild()
    assert report.ok, report.error
    with session_scope(world.engine, readonly=True) as s:
        names = {c.id: c.name for c in s.exec(select(Concept)).all()}
        merged = {tuple(m.member_cluster_ids): m for m in s.exec(select(MergedCluster)).all()}
    a = (world.cluster(DOG, 0, L1, 0), world.cluster(DOG, 0, L1, 1))
    b1 = (world.cluster(DOG, 1, L1, 0),)
    # B's second L1 cluster and its L0 cluster had one player each: no label scores there.
    assert set(merged) == {a, b1}
    assert world.cluster(DOG, 1, L0, 0) not in {c for key in merged for c in key}
    assert {names[int(c)]: s for c, s in merged[a].label_scores.items()} == pytest.approx(
        {"ear": 7 / 6}
    )
    assert names[merged[b1].best_concept_id] == "tail"
    assert merged[b1].best_score == pytest.approx(0.65)
