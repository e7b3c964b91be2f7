"""Label scores, cluster merging, global top concepts, trends, agreement and concept identity,
on hand-built records with hand-computed expected values."""

from __future__ import annotations

import numpy as np
import pytest

from engine.global_explanations.aggregate import layer_trends, rising_and_falling, top_concepts
from engine.labels.agreement import BONUS_PER_AGREEMENT, LabelVote, agreement_bonuses
from engine.labels.identity import KnownConcept, jaccard, match_concepts, stable_names
from engine.labels.scores import (
    ClusterInfo,
    MergedGroup,
    Vote,
    best_concepts,
    label_score,
    label_scores,
    merge_clusters,
)

EAR, TAIL, GRASS, NOSE = 1, 2, 3, 4


def vote(answer: int, play: int, who: int, cluster: int, concept: int, trust: float = 1.0,
         level: int = 0, correct: bool = True, resigned: bool = False) -> Vote:  # fmt: skip
    return Vote(answer, play, who, cluster, concept, trust, level, correct, resigned)


def test_label_score_formula() -> None:
    # f = 1.5, p̄ = (0.5·1 + 1·3) / 1.5 = 7/3, correct → 1.5 · (1 − 0.7/3) = 1.15
    assert label_score([0.5, 1.0], [1, 3], True) == pytest.approx(1.15)
    # A label only from wrong guesses counts a quarter: 1 · (1 − 0.2) · ¼
    assert label_score([1.0], [2], False) == pytest.approx(0.2)
    assert label_score([], [], True) == 0.0


def test_label_scores_trust_resigns_and_one_vote_per_play() -> None:
    votes = [
        vote(1, 10, 1, 100, EAR, trust=0.5, level=1),
        vote(2, 11, 2, 100, EAR, trust=1.0, level=3),
        vote(3, 11, 2, 100, EAR, trust=1.0, level=3),  # same play, same concept: no second vote
        vote(4, 11, 2, 100, TAIL, trust=1.0, level=3),
        vote(5, 12, 3, 101, GRASS, trust=0.5, level=0, correct=False, resigned=True),
        vote(6, 13, 4, 101, GRASS, trust=0.25, level=2, correct=False),
    ]
    scores = label_scores(votes)
    assert scores[100][EAR] == pytest.approx(1.15)
    assert scores[100][TAIL] == pytest.approx(0.7)
    # grass on 101: f = 0.75, p̄ = (0.5·5 + 0.25·2)/0.75 = 4, wrong → 0.75 · 0.6 · ¼ = 0.1125
    assert scores[101][GRASS] == pytest.approx(0.1125)


def test_label_scores_keep_concepts_given_by_min_agreement_distinct_players() -> None:
    votes = [
        vote(1, 10, 1, 100, EAR),  # one player: below 2, and first in order
        vote(2, 10, 1, 100, TAIL),
        vote(3, 11, 2, 100, TAIL),  # two players
        vote(4, 12, 3, 101, GRASS),
        vote(5, 13, 3, 101, GRASS),  # two plays of one player: one participant
        vote(6, 12, 3, 101, NOSE),
        vote(7, 14, 4, 101, NOSE),
    ]
    # Trust 1, level 0, correct: each score is the number of votes.
    assert label_scores(votes, min_agreement=2) == {100: {TAIL: 2.0}, 101: {NOSE: 2.0}}
    assert label_scores(votes, min_agreement=3) == {}
    assert label_scores(votes, min_agreement=1) == {
        100: {EAR: 1.0, TAIL: 2.0},
        101: {GRASS: 2.0, NOSE: 2.0},
    }


def test_best_concepts_keep_ties() -> None:
    assert best_concepts({EAR: 1.0, TAIL: 1.0, GRASS: 0.5}) == {EAR, TAIL}
    assert best_concepts({}) == set()
    assert best_concepts({EAR: 0.0}) == set()


def _cluster(cid: int, image: int, weight: float, layer: str = "L1", depth: int = 1) -> ClusterInfo:
    return ClusterInfo(cid, image, layer, depth, weight, 2, f"maps/{cid}.png")


def test_merge_is_transitive_over_shared_best_concepts() -> None:
    clusters = [
        _cluster(1, 7, 40.0),
        _cluster(2, 7, 20.0),
        _cluster(3, 7, 10.0),
        _cluster(4, 7, 5.0),
        _cluster(5, 8, 30.0),  # another image: never merged with image 7
        _cluster(6, 7, 9.0, layer="L0", depth=0),  # another layer
        _cluster(9, 7, 50.0),  # no labels: left out
    ]
    scores = {
        1: {EAR: 2.0, TAIL: 1.0},
        2: {EAR: 1.0, TAIL: 1.0},  # ties: best is {ear, tail}
        3: {TAIL: 0.5},
        4: {NOSE: 0.8},
        5: {EAR: 1.0},
        6: {EAR: 1.0},
    }
    merged = merge_clusters(clusters, scores)
    members = sorted(g.member_ids for g in merged)
    assert members == [[1, 2, 3], [4], [5], [6]]
    group = next(g for g in merged if g.member_ids == [1, 2, 3])
    assert group.weight == 70.0 and group.n_maps == 6
    # Weight-averaged: ear (40·2 + 20·1)/70, tail (40·1 + 20·1 + 10·0.5)/70
    assert group.scores[EAR] == pytest.approx(100 / 70)
    assert group.scores[TAIL] == pytest.approx(65 / 70)
    assert group.best == EAR and group.best_score == pytest.approx(100 / 70)
    assert group.map_file is None  # written later, as the weighted mean of its members' maps
    single = next(g for g in merged if g.member_ids == [4])
    assert single.best == NOSE and single.map_file == "maps/4.png"


def test_merged_ties_are_broken_by_the_given_key() -> None:
    clusters = [_cluster(1, 7, 10.0)]
    scores = {1: {EAR: 1.0, TAIL: 1.0}}
    names = {EAR: "ear", TAIL: "tail"}
    assert merge_clusters(clusters, scores, lambda c: names[c])[0].best == EAR
    names = {EAR: "zebra", TAIL: "tail"}
    assert merge_clusters(clusters, scores, lambda c: names[c])[0].best == TAIL


def _group(image: int, best: int, score: float, weight: float, depth: int = 1,
           scores: dict[int, float] | None = None, cid: int = 0) -> MergedGroup:  # fmt: skip
    return MergedGroup(
        image_id=image,
        layer_name=f"L{depth}",
        depth=depth,
        members=[_cluster(cid or image * 10 + best, image, weight, f"L{depth}", depth)],
        weight=weight,
        n_maps=2,
        scores=scores or {best: score},
        best=best,
        best_score=score,
    )


def test_top_concepts_totals_weights_and_examples() -> None:
    groups = [
        _group(1, EAR, 1.0, 60.0),
        _group(2, EAR, 0.5, 20.0),
        _group(2, EAR, 0.7, 10.0, cid=99),  # same image: only its best counts as an example
        _group(3, EAR, 0.2, 40.0),
        _group(4, EAR, 0.1, 50.0),
        _group(1, TAIL, 1.5, 30.0),
        _group(5, GRASS, 0.3, 15.0),
        _group(6, NOSE, 0.3, 15.0),
        _group(7, 5, 0.25, 10.0),
        _group(8, 6, 0.01, 10.0),
    ]
    top = top_concepts(groups)
    assert [t.concept for t in top] == [EAR, TAIL, GRASS, NOSE, 5]  # 6 falls out of the top 5
    ear = top[0]
    assert ear.total == pytest.approx(2.5)
    assert ear.mean_weight == pytest.approx((60 + 20 + 10 + 40 + 50) / 5)
    assert ear.clusters == 5
    assert [(g.image_id, g.best_score) for g in ear.examples] == [(1, 1.0), (2, 0.7), (3, 0.2)]
    assert top[1].total == pytest.approx(1.5) and top[1].mean_weight == 30.0


def test_layer_trends_and_slopes() -> None:
    groups = [
        # depth 0: images 1 and 2 have labels
        _group(1, GRASS, 1.0, 50.0, depth=0),
        _group(2, EAR, 0.4, 50.0, depth=0),
        # depth 2: image 1 only; its merged cluster also scores grass a little
        _group(1, EAR, 1.2, 50.0, depth=2, scores={EAR: 1.2, GRASS: 0.2}),
    ]
    trends = layer_trends(groups, [0, 1, 2])
    # ear: depth 0 → 0.4/2 = 0.2, depth 1 none, depth 2 → 1.2/1
    assert trends[EAR].means == [pytest.approx(0.2), None, pytest.approx(1.2)]
    assert trends[EAR].slope == pytest.approx((1.2 - 0.2) / 2)
    assert trends[GRASS].means == [pytest.approx(0.5), None, pytest.approx(0.2)]
    assert trends[GRASS].slope == pytest.approx((0.2 - 0.5) / 2)
    rising, falling = rising_and_falling(trends)
    assert [t.concept for t in rising] == [EAR] and [t.concept for t in falling] == [GRASS]
    single = layer_trends([_group(1, EAR, 1.0, 50.0, depth=0)], [0, 1])
    assert single[EAR].slope is None


def test_a_layer_where_a_concept_was_never_named_is_a_gap_not_zero() -> None:
    groups = [
        _group(1, EAR, 1.0, 50.0, depth=0),
        _group(2, GRASS, 0.9, 50.0, depth=1),  # the class has data here, but no ear
        _group(1, EAR, 0.8, 50.0, depth=2),
        _group(1, EAR, 0.75, 50.0, depth=3),
    ]
    trends = layer_trends(groups, [0, 1, 2, 3])
    assert trends[EAR].means == [pytest.approx(1.0), None, pytest.approx(0.8), 0.75]
    # Falling over the layers where ear was named; a zero at depth 1 would have made it rise.
    expected = np.polyfit([0.0, 2.0, 3.0], [1.0, 0.8, 0.75], 1)[0]
    assert trends[EAR].slope == pytest.approx(expected) and trends[EAR].slope < 0
    assert trends[GRASS].means == [None, pytest.approx(0.9), None, None]
    assert trends[GRASS].slope is None


def test_agreement_bonus_rules() -> None:
    votes = [
        LabelVote(1, play_id=10, participant_id=1, cluster_id=100, concept=EAR),  # first: nothing
        LabelVote(2, play_id=11, participant_id=2, cluster_id=100, concept=EAR),  # agrees with 1
        LabelVote(3, play_id=11, participant_id=2, cluster_id=100, concept=EAR),  # same play again
        LabelVote(4, play_id=11, participant_id=2, cluster_id=100, concept=TAIL),  # new concept
        LabelVote(5, play_id=12, participant_id=3, cluster_id=101, concept=EAR),  # other cluster
        LabelVote(6, play_id=13, participant_id=1, cluster_id=100, concept=TAIL),  # agrees with 4
    ]
    bonus = agreement_bonuses(reversed(votes))  # order of input does not matter
    b = BONUS_PER_AGREEMENT
    assert bonus == {1: 0, 2: b, 3: 0, 4: 0, 5: 0, 6: b}
    assert agreement_bonuses(votes, bonus=3)[2] == 3


def test_concept_identity_by_jaccard() -> None:
    old = [
        KnownConcept(11, "wheel", frozenset({"wheel", "tire", "round wheel"})),
        KnownConcept(12, "sky", frozenset({"sky", "blue sky"})),
        KnownConcept(13, "ear", frozenset({"ear"})),
    ]
    new = [
        frozenset({"wheel", "tire", "round wheel", "tyre"}),  # 3/4: continues 11
        frozenset({"sky", "cloud", "grey cloud"}),  # 1/4 with 12: new
        frozenset({"ear", "pointy ear"}),  # 1/2: continues 13
    ]
    matched = match_concepts(new, old)
    assert {i: c.id for i, c in matched.items()} == {0: 11, 2: 13}
    assert jaccard(new[0], old[0].phrases) == pytest.approx(0.75)
    # The old name stays while it is still one of the group's words and not another group's name.
    names = stable_names(
        ["tire", "cloud", "ear"], [{"wheel", "tire", "round"}, {"sky"}, {"ear"}], matched
    )
    assert names == ["wheel", "cloud", "ear"]
    names = stable_names(["tire", "wheel"], [{"wheel", "tire"}, {"wheel"}], {0: old[0]})
    assert names == ["tire", "wheel"]
