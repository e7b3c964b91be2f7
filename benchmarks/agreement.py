"""Agreement of clusterings with the authors' t-SNE pipeline, against t-SNE's own noise floors.

EfficientNet-Lite0 with its ImageNet weights on real photographs (random weights give degenerate
gradients). Every variant clusters the same network pass; for a pair of variants, over every
(image, layer):
  Δ surviving   mean |difference| of the number of surviving clusters (and the signed mean);
  Δ k           signed mean difference of the chosen number of clusters;
  ARI           adjusted Rand index of the channel clusterings (layers with ≥ 4 kept maps);
  w-cos         symmetric weight-weighted best-match cosine of the cluster maps.
The reference is "tsne": the authors' pipeline (PCA, t-SNE with PCA initialisation and sklearn's
1000 iterations, Ward, best silhouette). The noise floors are what t-SNE itself changes:
  random init   two runs with random initialisation, seeds 1 and 2;
  sign flip     the PCA columns' signs flipped before t-SNE (sklearn fixes them differently);
  500 vs 1000   half the iterations (inv's t-SNE setting) against sklearn's default.
A variant matches t-SNE on a measure when it is at least as close to "tsne" as the random-init
floor's two runs are to each other.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace

import numpy as np

from engine.config import ExplainConfig
from engine.method import (
    Partition,
    choose_clusters,
    explain_layer,
    partition_maps,
    pca,
    tsne_embedding,
)
from engine.results import LayerExplanation

PAPER_TSNE = ExplainConfig(reduction="tsne", tsne_max_iter=1000)


@dataclass(frozen=True)
class Variant:
    name: str
    config: ExplainConfig
    partition: Partition = partition_maps
    note: str = ""


def _flipped_pca_tsne(vectors: np.ndarray, config: ExplainConfig) -> tuple[np.ndarray, float]:
    reduced = pca(vectors, config.pca_components)
    reduced[:, 1::2] *= -1.0  # every other component's sign, as another PCA may choose them
    return choose_clusters(tsne_embedding(reduced, config), config.k_min, config.k_max)


def _old_perplexity_tsne(vectors: np.ndarray, config: ExplainConfig) -> tuple[np.ndarray, float]:
    from sklearn.manifold import TSNE

    reduced = pca(vectors, config.pca_components)
    n = reduced.shape[0]
    embedding = TSNE(
        n_components=2,
        perplexity=min(30.0, max(1.0, (n - 1) / 3)),
        init=config.tsne_init,
        random_state=config.seed,
        max_iter=config.tsne_max_iter,
    ).fit_transform(reduced)
    return choose_clusters(embedding.astype(np.float64), config.k_min, config.k_max)


def _sklearn_pca_tsne(vectors: np.ndarray, config: ExplainConfig) -> tuple[np.ndarray, float]:
    """The authors' PCA: sklearn's default solver on float32 maps (randomised for large layers)."""
    from sklearn.decomposition import PCA

    x = vectors.astype(np.float32)
    m = min(config.pca_components, *x.shape)
    reduced = PCA(n_components=m, random_state=config.seed).fit_transform(x).astype(np.float64)
    return choose_clusters(tsne_embedding(reduced, config), config.k_min, config.k_max)


def _opentsne(iterations: int) -> Partition:
    """openTSNE (exact-neighbour BH gradients) with few iterations, k chosen on its embedding."""

    def partition(vectors: np.ndarray, config: ExplainConfig) -> tuple[np.ndarray, float]:
        from openTSNE import TSNE

        from engine.method import tsne_perplexity

        reduced = pca(vectors, config.pca_components)
        early = max(iterations // 4, 25)
        embedding = TSNE(
            n_components=2,
            perplexity=tsne_perplexity(reduced.shape[0], config.tsne_perplexity),
            initialization="pca",
            random_state=config.seed,
            early_exaggeration_iter=early,
            n_iter=max(iterations - early, 25),
            negative_gradient_method="bh",
            neighbors="exact",
            n_jobs=1,
            verbose=False,
        ).fit(reduced)
        return choose_clusters(np.asarray(embedding, np.float64), config.k_min, config.k_max)

    return partition


def variants(candidates: bool) -> list[Variant]:
    found = [
        Variant("default", ExplainConfig(), note="inv's default: Ward on the PCA vectors"),
        Variant("tsne", PAPER_TSNE, note="the authors' pipeline (1000 iterations)"),
        Variant("rand1", replace(PAPER_TSNE, tsne_init="random", seed=1)),
        Variant("rand2", replace(PAPER_TSNE, tsne_init="random", seed=2)),
        Variant("flip", PAPER_TSNE, _flipped_pca_tsne),
        Variant("tsne500", replace(PAPER_TSNE, tsne_max_iter=500), note="inv's reduction=tsne"),
        Variant("old_perplexity", PAPER_TSNE, _old_perplexity_tsne),
        Variant("sklearn_pca", PAPER_TSNE, _sklearn_pca_tsne),
    ]
    if candidates:
        found.append(Variant("tsne250", replace(PAPER_TSNE, tsne_max_iter=250)))
        try:
            import openTSNE  # noqa: F401
        except ImportError:
            print("(openTSNE is not installed: its candidate rows are skipped)")
        else:
            found += [Variant(f"opentsne{it}", PAPER_TSNE, _opentsne(it)) for it in (100, 250)]
    return found


# ---- measures -------------------------------------------------------------------------------


def best_match_cosine(a: LayerExplanation, b: LayerExplanation) -> float | None:
    """Symmetric weight-weighted best-match cosine between two layers' cluster maps."""
    if not a.clusters or not b.clusters:
        return None

    def one_way(x: LayerExplanation, y: LayerExplanation) -> float:
        ys = [c.map.ravel() / (np.linalg.norm(c.map) or 1.0) for c in y.clusters]
        total = sum(c.weight for c in x.clusters)
        score = 0.0
        for c in x.clusters:
            v = c.map.ravel() / (np.linalg.norm(c.map) or 1.0)
            score += c.weight * max(float(v @ w) for w in ys)
        return score / total

    return 0.5 * (one_way(a, b) + one_way(b, a))


@dataclass(frozen=True)
class Agreement:
    surviving_abs: float
    surviving_signed: float
    k_signed: float
    ari: float
    cosine: float

    def at_least_as_close_as(self, floor: Agreement) -> dict[str, bool]:
        return {
            "surviving": self.surviving_abs <= floor.surviving_abs,
            "ARI": self.ari >= floor.ari,
            "w-cos": self.cosine >= floor.cosine,
        }


def agreement(first: list[LayerExplanation], second: list[LayerExplanation]) -> Agreement:
    from sklearn.metrics import adjusted_rand_score

    surviving, ks, aris, cosines = [], [], [], []
    for l1, l2 in zip(first, second, strict=True):
        assert np.array_equal(l1.kept_channels, l2.kept_channels)
        surviving.append(len(l1.clusters) - len(l2.clusters))
        ks.append(l1.n_clusters - l2.n_clusters)
        if l1.kept_channels.size >= 4:
            aris.append(adjusted_rand_score(l1.labels, l2.labels))
        cosine = best_match_cosine(l1, l2)
        if cosine is not None:
            cosines.append(cosine)
    return Agreement(
        surviving_abs=float(np.mean(np.abs(surviving))),
        surviving_signed=float(np.mean(surviving)),
        k_signed=float(np.mean(ks)),
        ari=float(np.mean(aris)),
        cosine=float(np.mean(cosines)),
    )


# ---- native-resolution maps -------------------------------------------------------------------


def upsampled_round_trip(
    activations: np.ndarray, weights: np.ndarray, channels: np.ndarray, size: int = 256
) -> np.ndarray:
    """The authors' stored map: raw maps resized bilinearly to `size`, weighted mean, min-max,
    resized back to the native size (tf.image.resize's bilinear, half-pixel centres)."""
    import torch
    import torch.nn.functional as F

    from engine.method import minmax

    maps = torch.from_numpy(activations[channels].astype(np.float32))[None]
    up = F.interpolate(maps, size=(size, size), mode="bilinear", align_corners=False)[0]
    w = torch.from_numpy(weights[channels].astype(np.float32))
    mean = (w[:, None, None] * up).sum(0) / w.sum()
    normalised = torch.from_numpy(minmax(mean.numpy()))[None, None]
    native = activations.shape[1:]
    back = F.interpolate(normalised, size=native, mode="bilinear", align_corners=False)
    return back[0, 0].numpy()


# ---- the run ----------------------------------------------------------------------------------


def cluster_all(
    passes: list, variant: Variant, threads: int
) -> tuple[list[LayerExplanation], float]:  # type: ignore[type-arg]
    jobs = [(p, b, name) for p in passes for b in range(p.batch_size) for name in p.layer_names]

    def one(job: tuple) -> LayerExplanation:  # type: ignore[type-arg]
        p, b, name = job
        return explain_layer(
            name,
            p.activations[name][b],
            p.alpha[name][b],
            p.gradcam[name][b],
            variant.config,
            variant.partition,
        )

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        done = list(pool.map(one, jobs))
    return done, (time.perf_counter() - start) / max(len(jobs), 1)


def report(
    passes: list,  # type: ignore[type-arg]
    threads: int,
    candidates: bool,
    log: Callable[[str], None] = print,
) -> dict[str, dict[str, float]]:
    """Prints the tables; returns each pair's measures and clustering time, for the run's record."""
    from threadpoolctl import threadpool_limits

    results: dict[str, list[LayerExplanation]] = {}
    seconds: dict[str, float] = {}
    chosen = variants(candidates)
    with threadpool_limits(limits=1):
        for variant in chosen:
            results[variant.name], seconds[variant.name] = cluster_all(passes, variant, threads)
    reference = results["tsne"]
    kept = np.array([layer.kept_channels.size for layer in reference])
    between = int(((kept > 30) & (kept <= 90)).sum())
    log(f"kept maps per (image, layer): median {int(np.median(kept))}, range {kept.min()}–{kept.max()}; "
        f"{between} of {kept.size} have 31–90 maps (where the perplexity rule matters)")  # fmt: skip
    floors = {
        "floor: random init, seed 1 vs seed 2": agreement(results["rand1"], results["rand2"]),
        "floor: PCA columns sign-flipped vs tsne": agreement(results["flip"], reference),
        "floor: 500 vs 1000 iterations": agreement(results["tsne500"], reference),
    }
    rows = dict(floors)
    for variant in chosen:
        if variant.name in ("tsne", "rand1", "rand2", "flip"):
            continue
        rows[f"{variant.name} vs tsne"] = agreement(results[variant.name], reference)
    log(
        f"{'pair':<42} {'|Δsurv|':>8} {'Δsurv':>7} {'Δk':>6} {'ARI':>6} {'w-cos':>7} {'ms/layer':>9}"
    )
    for name, a in rows.items():
        key = name.split(" vs ")[0] if " vs " in name and not name.startswith("floor") else None
        ms = f"{seconds[key] * 1000:9.1f}" if key else " " * 9
        log(f"{name:<42} {a.surviving_abs:>8.3f} {a.surviving_signed:>+7.3f} {a.k_signed:>+6.2f} "
            f"{a.ari:>6.3f} {a.cosine:>7.4f} {ms}")  # fmt: skip
    random_floor = floors["floor: random init, seed 1 vs seed 2"]
    for name, a in rows.items():
        if name.startswith("floor"):
            continue
        verdict = a.at_least_as_close_as(random_floor)
        misses = [m for m, ok in verdict.items() if not ok]
        log(f"{name}: {'at the random-init floor on all three measures' if not misses else 'misses the random-init floor on ' + ', '.join(misses)}")  # fmt: skip

    # Native-resolution cluster maps against the authors' 256-pixel round trip.
    diffs, cosines, flat = [], [], 0
    jobs = [(p, b, name) for p in passes for b in range(p.batch_size) for name in p.layer_names]
    for (p, b, name), layer in zip(jobs, results["default"], strict=True):
        for cluster in layer.clusters:
            theirs = upsampled_round_trip(
                p.activations[name][b], layer.channel_weights, cluster.channels
            )
            diffs.append(float(np.abs(theirs - cluster.map).max()))
            norms = float(np.linalg.norm(theirs) * np.linalg.norm(cluster.map))
            if norms > 0:
                cosines.append(float(theirs.ravel() @ cluster.map.ravel()) / norms)
            else:  # a constant map (all zeros after min-max) in either form
                flat += 1
    figures = {name: asdict(a) for name, a in rows.items()}
    for variant, per_layer in seconds.items():
        figures.setdefault(f"{variant} vs tsne", {})["seconds_per_layer"] = per_layer
    figures["native_resolution_maps"] = {
        "cosine_mean": float(np.mean(cosines)),
        "max_abs_difference_median": float(np.median(diffs)),
        "max_abs_difference_max": float(np.max(diffs)),
    }
    log(f"native-resolution maps vs the authors' 256 px round trip ({len(diffs)} clusters, "
        f"{flat} constant): "
        f"cosine mean {np.mean(cosines):.5f} (min {np.min(cosines):.5f}), max |Δ| median "
        f"{np.median(diffs):.4f} (max {np.max(diffs):.4f})")  # fmt: skip
    return figures
