"""Testing crowd concepts against the network with TCAV (Kim et al. 2018), on numpy and scipy.

A concept is tested for one class at one layer. Its examples are activation vectors of that layer:
each cluster that carries the concept gives the layer's [K, h, w] activations of its image pooled
inside the cluster's map (`pool_in_map`, the activation vectors weighted by the map), so an example
describes what the network holds where the crowd saw the concept, without passing crops through
the network again (a masked crop would show the network black surroundings it never saw in
training, and cost one more pass per cluster; `mask_crop` is that alternative, measured against
pooling in docs/method-deviations.md, section 9). Counterexamples are the same pooling over random
clusters of other classes, drawn as several random sets.

A concept activation vector (CAV) is the unit normal of a linear classifier that separates the
concept's examples from one random set, pointing towards the concept. Because the examples live in
the layer's channel space, a CAV v moves every position of the layer's output along v, and the
directional derivative of the class logit y along it is Σ_positions ∂y/∂A · v: the layer's
gradient summed over positions (`summed_gradients`) dotted with v. The TCAV score is the fraction
of the class's images for which that derivative is positive.

Significance: the concept's scores (one per random set) against the scores of CAVs trained
between two random sets, by a two-sided t-test, Bonferroni-corrected over the concepts tested for
the same class and layer. A concept is "validated" only when that test is significant and its
scores lie above the random ones: a concept that makes the class less likely does not explain it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from engine.logistic import fit_logistic

VALIDATED = "validated"
NOT_SIGNIFICANT = "not significant"
TOO_FEW_EXAMPLES = "too few examples"
VERDICTS = (VALIDATED, NOT_SIGNIFICANT, TOO_FEW_EXAMPLES)
# Why a concept is "too few examples": what there was too little of.
FEW_CONCEPT_EXAMPLES = "concept examples"  # clusters that carry the concept
FEW_CLASS_IMAGES = "class images"  # images whose gradients score the CAVs
FEW_COUNTEREXAMPLES = "counterexamples"  # clusters of other classes for the random sets

DEFAULT_RANDOM_SETS = 20
DEFAULT_ALPHA = 0.05


@dataclass(frozen=True)
class ConceptTest:
    """The outcome of testing one concept for one class at one layer."""

    concept: str
    examples: int  # concept examples the CAVs were trained on
    score: float | None  # mean TCAV score over the random sets (None: not tested)
    p_value: float | None  # Bonferroni-corrected, two-sided (None: not tested)
    verdict: str
    scores: tuple[float, ...] = field(default=())  # one per random set
    random_scores: tuple[float, ...] = field(default=())  # random-vs-random scores
    images: int | None = None  # class images whose gradients scored the CAVs (or would have)
    reason: str | None = None  # with "too few examples": FEW_CONCEPT_EXAMPLES, FEW_CLASS_IMAGES …


def resample_map(cluster_map: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A cluster map brought to the layer's grid (nearest cell); unchanged when it fits already."""
    cluster_map = np.asarray(cluster_map, dtype=np.float64)
    if cluster_map.shape == tuple(shape):
        return cluster_map
    rows = ((np.arange(shape[0]) + 0.5) * cluster_map.shape[0] / shape[0]).astype(int)
    cols = ((np.arange(shape[1]) + 0.5) * cluster_map.shape[1] / shape[1]).astype(int)
    rows = np.clip(rows, 0, cluster_map.shape[0] - 1)
    cols = np.clip(cols, 0, cluster_map.shape[1] - 1)
    return cluster_map[np.ix_(rows, cols)]


def pool_in_map(activations: np.ndarray, cluster_map: np.ndarray) -> np.ndarray:
    """One layer's [K, h, w] activations averaged over positions, weighted by a cluster's map.

    A map that is zero everywhere weights every position alike.
    """
    activations = np.asarray(activations, dtype=np.float64)
    if activations.ndim != 3:
        raise ValueError(f"activations must be [K, h, w], got shape {activations.shape}")
    weights = np.clip(resample_map(cluster_map, activations.shape[1:]), 0.0, None)
    total = float(weights.sum())
    if total <= 0.0:
        weights = np.ones(activations.shape[1:])
        total = float(weights.size)
    return np.tensordot(activations, weights, axes=([1, 2], [0, 1])) / total


def mask_crop(pixels: np.ndarray, cluster_map: np.ndarray) -> np.ndarray:
    """The alternative concept example's input: a crop's [H, W, 3] pixels in [0, 1] times the
    cluster's map, upsampled bilinearly to the crop (black where the map is zero).

    Passed through the network again and averaged over positions, it describes the cluster's
    region alone; measured against `pool_in_map` in docs/method-deviations.md (section 9).
    """
    from PIL import Image as PILImage

    pixels = np.asarray(pixels, dtype=np.float32)
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"pixels must be [H, W, 3], got shape {pixels.shape}")
    height, width = pixels.shape[:2]
    cluster_map = np.asarray(cluster_map, dtype=np.float32)
    if cluster_map.shape != (height, width):
        image = PILImage.fromarray(cluster_map, mode="F")
        cluster_map = np.asarray(image.resize((width, height), PILImage.BILINEAR))
    return pixels * np.clip(cluster_map, 0.0, 1.0)[:, :, None]


def train_cav(positives: np.ndarray, negatives: np.ndarray, seed: int = 0) -> np.ndarray:
    """The unit normal of a logistic regression separating `positives` from `negatives`.

    The regression is scikit-learn's `LogisticRegression(C=1.0)`: ½‖w‖² + C · Σ log-loss, the
    intercept unpenalised. The fit runs on the raw activations (centred only): standardising would
    blow the noise of channels that do not tell the sets apart up to the scale of those that do.
    It is solved by Newton's method (`engine.logistic.fit_logistic`), to machine precision rather
    than lbfgs's tolerance: the problem is unchanged, but a CAV has few samples and many channels,
    and in the samples' span (n + 1 unknowns instead of d + 1) Newton needs a few small linear
    solves where lbfgs iterated over every channel, thousands of times per rebuild. `seed` is
    kept for callers; the solution is deterministic.
    """
    if len(positives) == 0 or len(negatives) == 0:
        raise ValueError("a CAV needs examples on both sides")
    x = np.concatenate([positives, negatives]).astype(np.float64)
    y = np.concatenate([np.ones(len(positives)), np.zeros(len(negatives))])
    direction, _ = fit_logistic(x - x.mean(axis=0), y, c=1.0)
    norm = float(np.linalg.norm(direction))
    if norm == 0.0:
        return direction
    return direction / norm


def tcav_score(summed_gradients: np.ndarray, cav: np.ndarray) -> float:
    """Fraction of images whose class logit grows along `cav` ([N, K] gradients · [K])."""
    if len(summed_gradients) == 0:
        raise ValueError("no images to score")
    return float(np.mean(summed_gradients @ cav > 0.0))


def draw_random_sets(
    pool: np.ndarray, count: int, size: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """`count` random sets of `size` rows of `pool` (each drawn without replacement)."""
    if len(pool) < 2:
        raise ValueError("at least two counterexamples are needed for random sets")
    size = max(1, min(size, len(pool)))
    return [pool[rng.choice(len(pool), size=size, replace=False)] for _ in range(count)]


def two_sided_p(scores: Sequence[float], random_scores: Sequence[float]) -> float:
    """Welch's two-sided t-test p-value; identical constant samples give 1, distinct ones 0."""
    from scipy import stats

    a = np.asarray(scores, dtype=np.float64)
    b = np.asarray(random_scores, dtype=np.float64)
    if a.var() == 0.0 and b.var() == 0.0:
        return 1.0 if a.mean() == b.mean() else 0.0
    with warnings.catch_warnings():
        # One constant sample (every CAV scored 1.0) is expected here, not a precision problem.
        warnings.simplefilter("ignore", RuntimeWarning)
        p = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    return 1.0 if math.isnan(p) else p


def random_baseline(
    random_sets: Sequence[np.ndarray], summed_gradients: np.ndarray, seed: int = 0
) -> list[float]:
    """TCAV scores of CAVs between random set i and random set i+1 (cyclically)."""
    count = len(random_sets)
    return [
        tcav_score(
            summed_gradients,
            train_cav(random_sets[i], random_sets[(i + 1) % count], seed=seed),
        )
        for i in range(count)
    ]


def run_concept_tests(
    concept_examples: Mapping[str, np.ndarray],
    counterexamples: np.ndarray,
    summed_gradients: np.ndarray,
    *,
    min_examples: int,
    min_images: int = 1,
    random_sets: int = DEFAULT_RANDOM_SETS,
    alpha: float = DEFAULT_ALPHA,
    seed: int = 0,
) -> dict[str, ConceptTest]:
    """Test every concept of one class at one layer.

    concept_examples: concept → [n, K] pooled activation vectors of its clusters.
    counterexamples: [m, K] pooled vectors of random clusters of other classes.
    summed_gradients: [N, K] per image of the class, ∂(class logit)/∂A summed over positions.
    min_examples: a concept with fewer examples is marked "too few examples" and not tested.
    min_images: with fewer class images (N) every concept is marked so: a TCAV score is the
    share of those images with a positive derivative, and a share of one or two images says
    nothing.
    """
    rng = np.random.default_rng(seed)
    images = len(summed_gradients)
    tested = {
        name: np.asarray(x, dtype=np.float64)
        for name, x in concept_examples.items()
        if len(x) >= max(1, min_examples)
    }
    results: dict[str, ConceptTest] = {
        name: ConceptTest(
            name, len(x), None, None, TOO_FEW_EXAMPLES, images=images, reason=FEW_CONCEPT_EXAMPLES
        )
        for name, x in concept_examples.items()
        if name not in tested
    }
    if not tested:
        return results
    reason = None
    if images < max(1, min_images):
        reason = FEW_CLASS_IMAGES
    elif len(counterexamples) < 2:
        reason = FEW_COUNTEREXAMPLES
    if reason is not None:
        for name, x in tested.items():
            results[name] = ConceptTest(
                name, len(x), None, None, TOO_FEW_EXAMPLES, images=images, reason=reason
            )
        return results
    gradients = np.asarray(summed_gradients, dtype=np.float64)
    set_size = max(len(x) for x in tested.values())
    sets = draw_random_sets(np.asarray(counterexamples, np.float64), random_sets, set_size, rng)
    null = random_baseline(sets, gradients, seed=seed)
    for name, examples in tested.items():
        scores = [
            tcav_score(gradients, train_cav(examples, negatives, seed=seed)) for negatives in sets
        ]
        p = min(1.0, two_sided_p(scores, null) * len(tested))
        above = float(np.mean(scores)) > float(np.mean(null))
        verdict = VALIDATED if p < alpha and above else NOT_SIGNIFICANT
        results[name] = ConceptTest(
            name,
            len(examples),
            float(np.mean(scores)),
            p,
            verdict,
            tuple(scores),
            tuple(null),
            images=images,
        )
    return results
