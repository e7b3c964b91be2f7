"""Cluster merging through shared tied concepts, and ties that differ only by rounding noise."""

from __future__ import annotations

from engine.labels.scores import ClusterInfo, best_concepts, merge_clusters


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
