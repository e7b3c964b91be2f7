"""The method's guards, cluster filter and tie rules on small hand-built layers.

Each input is built so that the rule under test decides the outcome: a different threshold, a
comparison flipped at the boundary, a dropped guard or a lost tie-break gives a different answer.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform
from sklearn.cluster import AgglomerativeClustering
from sklearn.decomposition import PCA
from sklearn.metrics import silhouette_score

from engine.config import ExplainConfig
from engine.method import (
    choose_clusters,
    explain_layer,
    minmax_rows,
    partition_maps,
    pca,
    percent_weights,
    pruning_threshold,
    silhouette,
    tsne_embedding,
)

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


# ---- the arithmetic of each step, on inputs small enough to check by hand ---------------------


def test_pruning_threshold_of_one_channel_is_the_whole_numerator() -> None:
    assert pruning_threshold(1) == 76.8
    assert pruning_threshold(2) == 38.4


def test_percent_weights_are_float64_whatever_the_importances_and_need_only_a_positive_sum() -> (
    None
):
    weights = percent_weights(np.array([1.0, 2.0, 1.0], dtype=np.float32))
    assert weights.dtype == np.float64 and weights.tolist() == [25.0, 50.0, 25.0]
    # A total of at most 1 is still a positive total.
    assert percent_weights(np.array([0.25, 0.75])).tolist() == [25.0, 75.0]
    assert percent_weights(np.array([0.5, 0.5])).tolist() == [50.0, 50.0]


def test_minmax_rows_scales_each_row_on_its_own_span() -> None:
    x = np.array([[1.0, 3.0, 2.0], [5.0, 5.0, 5.0], [0.0, 0.5, 0.25], [-2.0, 8.0, 3.0]])
    expected = [[0.0, 1.0, 0.5], [0.0, 0.0, 0.0], [0.0, 1.0, 0.5], [0.0, 1.0, 0.5]]
    assert minmax_rows(x).tolist() == expected


@pytest.mark.parametrize(("shape", "components"), [((10, 3), 3), ((10, 3), 5), ((6, 40), 4)])
@pytest.mark.parametrize("scale", [1.0, 0.01])
def test_pca_of_few_features_or_tiny_variance_equals_sklearn(
    shape: tuple[int, int], components: int, scale: float
) -> None:
    x = np.random.default_rng(3).normal(size=shape) * scale
    ours = pca(x, components)
    reference = PCA(min(components, *shape), svd_solver="full").fit_transform(x)
    assert ours.shape == reference.shape
    signs = np.sign((ours * reference).sum(axis=0))
    np.testing.assert_allclose(ours, reference * signs, atol=1e-10 * scale)


@pytest.mark.parametrize("shape", [(12, 30), (30, 12)])
def test_pca_makes_each_components_largest_score_positive(shape: tuple[int, int]) -> None:
    x = np.random.default_rng(4).normal(size=shape)
    for data in (x, -x):
        scores = pca(data, 5)
        largest = scores[np.abs(scores).argmax(axis=0), np.arange(5)]
        assert np.all(largest > 0)
    # Single precision in, the same double-precision scores out.
    single = x.astype(np.float32)
    out = pca(single, 5)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, pca(single.astype(np.float64), 5), atol=1e-12)


def test_silhouette_of_pairs_at_small_distances_equals_sklearn() -> None:
    # Two pairs and a triple, all distances below 1: pairs use a = d(i, j) / 1.
    x = np.array([[0.0], [0.01], [0.3], [0.32], [0.6], [0.61], [0.63]])
    distances = squareform(pdist(x))
    labels = np.array([0, 0, 1, 1, 2, 2, 2])
    assert silhouette(distances, labels) == pytest.approx(
        silhouette_score(distances, labels, metric="precomputed"), abs=1e-12
    )


def test_choose_clusters_is_ward_and_stays_within_k_max() -> None:
    # A chain of close points and two tight groups: single linkage would follow the chain,
    # Ward cuts it.
    chain = np.array([[float(i), 0.0] for i in range(8)])
    groups = np.array([[30.0, 0.0], [30.2, 0.0], [60.0, 0.0], [60.2, 0.0]])
    x = np.vstack([chain, groups])
    for k in (2, 3, 4):
        labels, score = choose_clusters(x, k, k)
        reference = AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(x)
        assert len(set(zip(labels.tolist(), reference.tolist(), strict=True))) == k
        assert score == pytest.approx(silhouette_score(x, reference), abs=1e-12)
    # Four tight groups, but at most three clusters allowed.
    four = np.repeat(np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]]), 3, axis=0)
    four += np.random.default_rng(5).normal(scale=0.01, size=four.shape)
    labels, _ = choose_clusters(four, 2, 3)
    assert int(labels.max()) + 1 <= 3


def test_partition_maps_clusters_the_tsne_embedding_when_asked() -> None:
    vectors = np.random.default_rng(6).uniform(size=(12, 20))
    config = ExplainConfig(reduction="tsne", k_min=2, k_max=4)
    labels, score = partition_maps(vectors, config)
    expected_labels, expected_score = choose_clusters(
        tsne_embedding(pca(vectors, config.pca_components), config), 2, 4
    )
    assert score == expected_score and labels.tolist() == expected_labels.tolist()
    _, ward_score = partition_maps(vectors, ExplainConfig(k_min=2, k_max=4))
    assert ward_score != score


def test_tsne_embedding_follows_the_configured_perplexity_init_and_seed() -> None:
    from sklearn.manifold import TSNE

    vectors = np.random.default_rng(7).normal(size=(20, 5))
    config = ExplainConfig(
        reduction="tsne", tsne_perplexity=4.0, tsne_init="random", seed=3, tsne_max_iter=250
    )
    reference = TSNE(
        n_components=2, perplexity=4.0, init="random", random_state=3, max_iter=250
    ).fit_transform(vectors)
    np.testing.assert_allclose(tsne_embedding(vectors, config), reference, rtol=1e-6, atol=1e-6)


def _layer(k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(8)
    acts = rng.uniform(size=(k, 4, 4)).astype(np.float32)
    return acts, np.arange(1.0, k + 1.0), rng.uniform(size=(4, 4)).astype(np.float64)


def test_a_layer_without_weight_keeps_its_name_and_single_precision_gradcam() -> None:
    acts, _, cam = _layer(5)
    layer = explain_layer("conv3", acts, np.zeros(5), cam, ExplainConfig())
    assert layer.name == "conv3" and layer.clusters == []
    assert layer.gradcam.dtype == np.float32 and np.array_equal(
        layer.gradcam, cam.astype(np.float32)
    )
    assert layer.kept_channels.tolist() == [] and layer.silhouette is None


def test_clustered_layer_keeps_its_name_gradcam_and_integer_ranks() -> None:
    acts, alpha, cam = _layer(8)
    layer = explain_layer("conv4", acts, alpha, cam, ExplainConfig(prune=False))
    assert layer.name == "conv4"
    assert layer.gradcam.dtype == np.float32 and np.array_equal(
        layer.gradcam, cam.astype(np.float32)
    )
    assert layer.labels.dtype.kind == "i" and layer.silhouette is not None


@pytest.mark.parametrize(
    ("kept", "config"),
    [
        (3, ExplainConfig(prune=False, k_min=2)),  # fewer than four maps, though k_min allows 2
        (6, ExplainConfig(prune=False, single_cluster=True)),  # asked for one cluster
        (4, ExplainConfig(prune=False, k_min=4, k_max=5)),  # n - 1 = 3 maps fewer than k_min
    ],
)
def test_one_cluster_without_a_choice(kept: int, config: ExplainConfig) -> None:
    acts, alpha, cam = _layer(kept)
    layer = explain_layer("conv", acts, alpha, cam, config)
    assert layer.n_clusters == 1 and layer.silhouette is None
    assert layer.clusters[0].channels.tolist() == list(range(kept))
