"""The per-layer method on numpy arrays, against direct computation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.cluster.hierarchy import cut_tree, linkage
from sklearn.cluster import AgglomerativeClustering
from sklearn.decomposition import PCA
from sklearn.metrics import silhouette_score

from engine.config import ExplainConfig, config_key
from engine.method import (
    choose_clusters,
    cut_tree_labels,
    explain_layer,
    kept_channels,
    minmax,
    pca,
    percent_weights,
    pruning_threshold,
    silhouette,
    tsne_embedding,
    tsne_perplexity,
)


def blobs(seed: int, n: int = 60, dims: int = 12, centres: int = 4) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centre = rng.normal(scale=4.0, size=(centres, dims))
    return centre[rng.integers(0, centres, n)] + rng.normal(size=(n, dims))


def layer_inputs(seed: int, k: int = 40, hw: tuple[int, int] = (9, 11)):  # type: ignore[no-untyped-def]
    """Activations with a few spatial patterns, and sparse positive importances."""
    rng = np.random.default_rng(seed)
    patterns = rng.uniform(0, 1, size=(4, *hw)) ** 3
    acts = np.maximum(
        0,
        patterns[rng.integers(0, 4, k)] * rng.uniform(0.5, 2, (k, 1, 1))
        + rng.normal(0, 0.05, (k, *hw)),
    )
    alpha = np.where(rng.uniform(size=k) < 0.8, rng.exponential(size=k), 0.0)
    gradcam = rng.uniform(size=hw)
    return acts.astype(np.float32), alpha, gradcam.astype(np.float32)


@pytest.mark.parametrize(
    ("channels", "expected"),
    [
        (1024, 0.175),
        (512, 0.175),
        (511, 0.35),
        (256, 0.35),
        (255, 0.7),
        (128, 0.7),
        (127, 1.4),
        (64, 1.4),
        (63, 76.8 / 63),
        (16, 4.8),
    ],
)
def test_pruning_thresholds_follow_section_1_4(channels: int, expected: float) -> None:
    assert pruning_threshold(channels) == pytest.approx(expected)


def test_kept_channels_strictly_above_threshold_and_never_zero() -> None:
    weights = np.zeros(64)
    weights[:5] = [1.4, 1.4000001, 50.0, 0.0, 1.0]
    weights[5] = 100 - weights.sum()
    assert kept_channels(weights, prune=True).tolist() == [1, 2, 5]
    assert kept_channels(weights, prune=False).tolist() == [0, 1, 2, 4, 5]


def test_percent_weights_sum_to_100_or_all_zero() -> None:
    w = percent_weights(np.array([1.0, 3.0, 0.0]))
    assert w.tolist() == [25.0, 75.0, 0.0]
    assert percent_weights(np.zeros(4)).tolist() == [0.0] * 4


def test_minmax_constant_is_zeros() -> None:
    assert minmax(np.full((3, 3), 5.0)).max() == 0.0
    out = minmax(np.array([[1.0, 3.0], [2.0, 5.0]]))
    assert out.min() == 0.0 and out.max() == 1.0


@pytest.mark.parametrize("shape", [(30, 200), (200, 30)])
def test_pca_equals_sklearn_full_svd_up_to_sign(shape: tuple[int, int]) -> None:
    x = np.random.default_rng(1).normal(size=shape)
    ours = pca(x, 10)
    reference = PCA(10, svd_solver="full").fit_transform(x)
    signs = np.sign((ours * reference).sum(axis=0))
    np.testing.assert_allclose(ours, reference * signs, atol=1e-8)


def test_cut_tree_labels_match_scipy_cut_tree() -> None:
    x = blobs(2, n=80)
    z = linkage(x, "ward")
    ks = range(3, 9)
    ours = cut_tree_labels(z, 80, ks)
    theirs = cut_tree(z, n_clusters=list(ks))
    for column, k in enumerate(ks):
        # Same partition: a one-to-one relation between labels.
        pairs = set(zip(ours[k].tolist(), theirs[:, column].tolist(), strict=True))
        assert len(pairs) == k == len(set(ours[k].tolist()))


def test_silhouette_equals_sklearn() -> None:
    x = blobs(3, n=50)
    from scipy.spatial.distance import pdist, squareform

    d = squareform(pdist(x))
    for labels in (np.random.default_rng(0).integers(0, 4, 50), np.r_[np.zeros(49, int), 1]):
        assert silhouette(d, labels) == pytest.approx(silhouette_score(x, labels), abs=1e-12)


def test_one_ward_tree_gives_sklearn_agglomerative_partitions_and_best_silhouette() -> None:
    x = blobs(4, n=70, centres=5)
    labels, score = choose_clusters(x, 3, 8)
    scores = {}
    for k in range(3, 9):
        ref = AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(x)
        scores[k] = silhouette_score(x, ref)
    best_k = min(k for k in scores if scores[k] == max(scores.values()))
    assert int(labels.max()) + 1 == best_k
    assert score == pytest.approx(scores[best_k])
    ref = AgglomerativeClustering(n_clusters=best_k, linkage="ward").fit_predict(x)
    assert len(set(zip(labels.tolist(), ref.tolist(), strict=True))) == best_k


def test_silhouette_ties_go_to_smaller_k() -> None:
    # Four identical pairs of points: every k from 3 to 7 splits them without ever breaking a
    # pair except k >= 5, and k = 3 and 4 can tie only if equal; build exact duplicates so that
    # the silhouette is identical for k=4 and any cut that splits duplicates scores lower.
    points = np.repeat(np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]]), 3, axis=0)
    labels, _ = choose_clusters(points, 3, 8)
    assert int(labels.max()) + 1 == 4


@pytest.mark.parametrize("reduction", ["ward", "tsne"])
def test_cluster_weights_maps_and_filter(reduction: str) -> None:
    acts, alpha, cam = layer_inputs(5)
    layer = explain_layer("conv", acts, alpha, cam, ExplainConfig(reduction=reduction))  # type: ignore[arg-type]
    w = 100 * alpha / alpha.sum()
    np.testing.assert_allclose(layer.channel_weights, w)
    assert layer.channel_weights.sum() == pytest.approx(100)
    np.testing.assert_array_equal(layer.kept_channels, np.flatnonzero(w > 76.8 / 40))
    # Ranks by weight, the cluster filter applied to every cluster before filtering.
    all_weights = np.array(
        [w[layer.kept_channels[layer.labels == r]].sum() for r in range(layer.n_clusters)]
    )
    assert np.all(np.diff(all_weights) <= 0)
    tau = max(all_weights.max() / 3, all_weights.mean() / 2)
    assert [c.weight for c in layer.clusters] == pytest.approx(
        all_weights[all_weights >= tau].tolist()
    )
    assert 3 <= layer.n_clusters <= 8 and len(layer.clusters) >= 1
    for cluster in layer.clusters:
        assert cluster.weight == pytest.approx(w[cluster.channels].sum())
        expected = (
            np.tensordot(w[cluster.channels], acts[cluster.channels], axes=1)
            / w[cluster.channels].sum()
        )
        expected = (expected - expected.min()) / (expected.max() - expected.min())
        np.testing.assert_allclose(cluster.map, expected, atol=1e-6)
        assert cluster.map.shape == acts.shape[1:] and cluster.map.dtype == np.float32
    assert layer.silhouette is not None


def test_fewer_than_four_maps_make_one_cluster_and_no_weight_no_cluster() -> None:
    acts, alpha, cam = layer_inputs(6, k=8)
    alpha[:] = 0
    alpha[[1, 4, 6]] = [1.0, 2.0, 3.0]
    layer = explain_layer("x", acts, alpha, cam, ExplainConfig(prune=False))
    assert len(layer.clusters) == 1 and layer.clusters[0].channels.tolist() == [1, 4, 6]
    assert layer.clusters[0].weight == pytest.approx(100)
    empty = explain_layer("x", acts, np.zeros(8), cam, ExplainConfig())
    assert empty.clusters == [] and empty.channel_weights.sum() == 0


def test_tsne_handles_four_maps_and_is_deterministic_for_a_seed() -> None:
    acts, alpha, cam = layer_inputs(7, k=40)
    config = ExplainConfig(reduction="tsne", prune=False)
    a = explain_layer("x", acts, alpha, cam, config)
    b = explain_layer("x", acts, alpha, cam, config)
    assert [c.channels.tolist() for c in a.clusters] == [c.channels.tolist() for c in b.clusters]
    few = np.zeros_like(alpha)
    few[:4] = [1.0, 2.0, 3.0, 4.0]
    four = explain_layer("x", acts, few, cam, config)
    assert four.n_clusters == 3 and sum(c.n_maps for c in four.clusters) <= 4


@pytest.mark.parametrize(
    ("n", "expected"),
    [(4, 1.0), (5, 4 / 3), (30, 29 / 3), (31, 30.0), (45, 30.0), (90, 30.0), (500, 30.0)],
)
def test_tsne_perplexity_is_30_above_30_maps_as_the_authors_ran_it(n: int, expected: float) -> None:
    assert tsne_perplexity(n) == pytest.approx(expected)


def test_tsne_embedding_of_45_maps_uses_perplexity_30() -> None:
    from sklearn.manifold import TSNE

    vectors = blobs(3, n=45)
    config = ExplainConfig(reduction="tsne")
    reference = TSNE(
        n_components=2, perplexity=30.0, init="pca", random_state=config.seed, max_iter=500
    ).fit_transform(vectors)
    np.testing.assert_allclose(tsne_embedding(vectors, config), reference, rtol=1e-6, atol=1e-6)


def test_config_validation_and_key() -> None:
    with pytest.raises(ValueError, match="reduction"):
        ExplainConfig(reduction="umap")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ExplainConfig(k_min=5, k_max=4)
    base = dict(model_name="m", weights_hash="h", layers=["a"], preprocess={"crop": 224})
    assert config_key(config=ExplainConfig(), **base) == config_key(config=ExplainConfig(), **base)  # type: ignore[arg-type]
    assert config_key(config=ExplainConfig(), **base) != config_key(
        config=ExplainConfig(seed=1), **base
    )  # type: ignore[arg-type]
