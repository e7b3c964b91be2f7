"""The method's guards, cluster filter and tie rules on small hand-built layers.

Each input is built so that the rule under test decides the outcome: a different threshold, a
comparison flipped at the boundary, a dropped guard or a lost tie-break gives a different answer.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.config import ExplainConfig
from engine.method import choose_clusters, explain_layer, minmax_rows, percent_weights

# Three (or four) disjoint 2×2 blocks of a 4×4 map: channels of one group light one block, so
# Ward on their min-max vectors separates the groups exactly.
_BLOCKS = [
    (slice(0, 2), slice(0, 2)),
    (slice(0, 2), slice(2, 4)),
    (slice(2, 4), slice(0, 2)),
    (slice(2, 4), slice(2, 4)),
]


def grouped_layer(
    groups: list[list[int]], alpha_by_channel: dict[int, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Activations [K, 4, 4] where the channels of group g light block g; alpha per channel."""
    k = 1 + max(c for g in groups for c in g)
    acts = np.zeros((k, 4, 4), dtype=np.float32)
    for g, channels in enumerate(groups):
        for c in channels:
            acts[c][_BLOCKS[g]] = 1.0 + 0.01 * c  # same shape within a group, distinct scale
    alpha = np.array([alpha_by_channel.get(c, 0.0) for c in range(k)])
    return acts, alpha


def run(groups: list[list[int]], alpha: dict[int, float], k: int) -> list[tuple[float, list[int]]]:
    acts, a = grouped_layer(groups, alpha)
    config = ExplainConfig(prune=False, k_min=k, k_max=k)
    layer = explain_layer("conv", acts, a, np.zeros((4, 4), np.float32), config)
    assert layer.n_clusters == k
    return [(c.weight, c.channels.tolist()) for c in layer.clusters]


def test_filter_drops_clusters_below_a_third_of_the_heaviest() -> None:
    # Weights 70 / 20 / 10: max/3 = 23.3 beats mean/2 = 16.7, so only the heaviest survives.
    clusters = run([[0, 1], [2, 3], [4, 5]], {0: 35, 1: 35, 2: 10, 3: 10, 4: 5, 5: 5}, k=3)
    assert clusters == [(70.0, [0, 1])]


def test_filter_keeps_a_cluster_exactly_at_the_threshold() -> None:
    # Weights 60 / 20 / 20: the threshold max(60/3, 33.3/2) is exactly 20, and ">=" keeps both.
    clusters = run(
        [[0, 1, 2], [3, 4], [5, 6]], {0: 20, 1: 20, 2: 20, 3: 10, 4: 10, 5: 10, 6: 10}, k=3
    )
    assert [w for w, _ in clusters] == [60.0, 20.0, 20.0]


def test_filter_uses_half_the_mean_when_it_is_larger() -> None:
    # Weights 30 / 30 / 30 / 10: max/3 = 10 but mean/2 = 12.5, so the 10 goes.
    clusters = run(
        [[0, 4], [1, 5], [2, 6], [3, 7]],
        {0: 15, 4: 15, 1: 15, 5: 15, 2: 15, 6: 15, 3: 5, 7: 5},
        k=4,
    )
    assert [w for w, _ in clusters] == [30.0, 30.0, 30.0]


def test_equal_weight_clusters_rank_by_their_lowest_channel() -> None:
    # Groups {1, 4} and {0, 5} weigh 40 each; {2, 3} weighs 20. The group holding channel 0
    # ranks first although its other channel is the highest index.
    clusters = run([[1, 4], [0, 5], [2, 3]], {1: 20, 4: 20, 0: 20, 5: 20, 2: 10, 3: 10}, k=3)
    assert [ch for _, ch in clusters] == [[0, 5], [1, 4], [2, 3]]


@pytest.mark.parametrize("bad", [np.inf, np.nan, -np.inf])
def test_non_finite_importance_gives_zero_weights_not_nan(bad: float) -> None:
    alpha = np.array([1.0, bad, 2.0, 0.5])
    weights = percent_weights(alpha)
    assert np.all(np.isfinite(weights))
    assert weights.tolist() == [0.0, 0.0, 0.0, 0.0]
    acts = np.random.default_rng(0).uniform(size=(4, 3, 3)).astype(np.float32)
    layer = explain_layer("conv", acts, alpha, np.zeros((3, 3), np.float32), ExplainConfig())
    assert layer.clusters == [] and np.all(np.isfinite(layer.channel_weights))


def test_negative_total_importance_gives_zero_weights() -> None:
    assert percent_weights(np.array([-1.0, -2.0])).tolist() == [0.0, 0.0]


def test_constant_maps_among_kept_channels_cluster_without_nan() -> None:
    # Eight kept channels; two of them are constant maps (all 3.0 and all 0.0).
    rng = np.random.default_rng(1)
    acts = rng.uniform(size=(8, 5, 5)).astype(np.float32)
    acts[2] = 3.0
    acts[6] = 0.0
    alpha = np.ones(8)
    rows = minmax_rows(acts.reshape(8, -1).astype(np.float64))
    assert np.all(np.isfinite(rows)) and np.all(rows[[2, 6]] == 0.0)
    layer = explain_layer(
        "conv", acts, alpha, np.zeros((5, 5), np.float32), ExplainConfig(prune=False)
    )
    assert layer.n_clusters >= 3
    for cluster in layer.clusters:
        assert np.all(np.isfinite(cluster.map))


def test_exact_silhouette_tie_goes_to_the_smaller_k() -> None:
    # Identical vectors: every cut has silhouette 0, so k = 3, 4 and 5 tie exactly.
    labels, score = choose_clusters(np.zeros((7, 3)), 3, 5)
    assert score == 0.0
    assert int(labels.max()) + 1 == 3
