"""Cluster merging through shared tied concepts, and ties that differ only by rounding noise."""

from __future__ import annotations

import pytest

from engine.labels.scores import ClusterInfo, best_concepts, label_score, merge_clusters


def info(cluster_id: int, weight: float = 10.0) -> ClusterInfo:
    return ClusterInfo(
        cluster_id,
        image_id=1,
        layer_name="l",
        depth=0,
        weight=weight,
        n_maps=2,
        map_file=f"{cluster_id}.npy",
    )


def test_a_cluster_tied_between_two_concepts_joins_both_groups() -> None:
    # {X}, {Y} and {X, Y}: the third cluster links the first two, so all three are one group.
    x, y = 7, 8
    scores = {1: {x: 2.0}, 2: {y: 2.0}, 3: {x: 1.0, y: 1.0}}
    groups = merge_clusters([info(1), info(2), info(3)], scores)
    assert [g.member_ids for g in groups] == [[1, 2, 3]]


def test_a_chain_of_links_merges_transitively() -> None:
    # {A}, {B}, {A, C}, {B, C}: linked only through C.
    a, b, c = 1, 2, 3
    scores = {10: {a: 1.0}, 11: {b: 1.0}, 12: {a: 1.0, c: 1.0}, 13: {b: 1.0, c: 1.0}}
    groups = merge_clusters([info(i) for i in (10, 11, 12, 13)], scores)
    assert [g.member_ids for g in groups] == [[10, 11, 12, 13]]


def test_clusters_without_a_shared_best_concept_stay_apart() -> None:
    groups = merge_clusters([info(1), info(2)], {1: {5: 2.0, 6: 1.0}, 2: {6: 2.0, 5: 1.0}})
    assert [g.member_ids for g in groups] == [[1], [2]]


def test_best_concepts_treat_rounding_noise_as_a_tie() -> None:
    assert 0.1 + 0.2 != 0.3
    assert best_concepts({1: 0.3, 2: 0.1 + 0.2}) == {1, 2}
    assert best_concepts({1: 0.3, 2: 0.3 - 1e-6}) == {1}


def test_merged_best_concept_breaks_noise_ties_by_the_smallest_key() -> None:
    # Concept 5 leads concept 3 by 5e-17 only: the tie goes to the smaller concept, 3.
    groups = merge_clusters([info(1)], {1: {5: 0.1 + 0.2, 3: 0.3}})
    assert groups[0].best == 3
    groups = merge_clusters([info(1)], {1: {5: 0.31, 3: 0.3}})
    assert groups[0].best == 5


def test_best_concepts_tie_within_a_billionth_of_the_top_at_both_sides() -> None:
    # Up to |top| = 1 the tolerance is 1e-9; above, 1e-9 of the top.
    assert best_concepts({1: 1.0, 2: 1.0 - 1e-9}) == {1, 2}
    assert best_concepts({1: 1.0, 2: 1.0 - 2e-9}) == {1}
    assert best_concepts({1: 0.5, 2: 0.5 - 1e-9}) == {1, 2}
    assert best_concepts({1: 0.5, 2: 0.5 - 1.5e-9}) == {1}
    assert best_concepts({1: 4.0, 2: 4.0 - 4e-9}) == {1, 2}
    assert best_concepts({1: 4.0, 2: 4.0 - 5e-9}) == {1}


def test_merged_scores_are_weight_averaged_whatever_the_total_weight() -> None:
    # Weights 0.6 and 0.2 (a total below 1): 0.75 · 2 + 0.25 · 1 = 1.75.
    groups = merge_clusters([info(1, weight=0.6), info(2, weight=0.2)], {1: {5: 2.0}, 2: {5: 1.0}})
    assert [g.member_ids for g in groups] == [[1, 2]]
    assert groups[0].scores == {5: pytest.approx(1.75)} and groups[0].weight == pytest.approx(0.8)
    assert groups[0].member_weights == [0.6, 0.2]
    # No weight at all: a plain mean.
    groups = merge_clusters([info(1, weight=0.0), info(2, weight=0.0)], {1: {5: 2.0}, 2: {5: 1.0}})
    assert groups[0].scores == {5: pytest.approx(1.5)} and groups[0].weight == 0.0


def test_a_group_whose_best_score_is_zero_has_no_best_concept() -> None:
    groups = merge_clusters([info(1)], {1: {5: 0.0}})
    assert groups[0].best is None and groups[0].best_score == 0.0


def test_merged_ties_are_rounded_at_the_ninth_decimal() -> None:
    # 3e-10 apart rounds to a tie (smaller concept wins); 6e-10 apart does not.
    assert merge_clusters([info(1)], {1: {5: 0.3 + 3e-10, 3: 0.3}})[0].best == 3
    assert merge_clusters([info(1)], {1: {5: 0.3 + 6e-10, 3: 0.3}})[0].best == 5


def test_label_score_needs_one_level_per_trust() -> None:
    with pytest.raises(ValueError):
        label_score([0.5, 1.0], [1], True)
