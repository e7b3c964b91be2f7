"""Parameters of one INV explanation, with no heavy imports.

`ExplainConfig` is frozen and hashable so that a configuration can be part of a cache key:
precompute stores `config_key()` on every Image row and skips an image already explained with the
same model, layers and parameters.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any, Literal

# Bumped when a change to the method changes its output for the same inputs, so that stored
# explanations made by an older method are not mistaken for current ones.
METHOD_VERSION = 2

Target = Literal["predicted", "true"]
Weighting = Literal["guided", "gradcam"]
Reduction = Literal["ward", "tsne"]

TARGETS: tuple[str, ...] = ("predicted", "true")
WEIGHTINGS: tuple[str, ...] = ("guided", "gradcam")
REDUCTIONS: tuple[str, ...] = ("ward", "tsne")
TSNE_INITS: tuple[str, ...] = ("pca", "random")


@dataclass(frozen=True)
class ExplainConfig:
    """How one image is explained.

    target: "predicted" (argmax logit) or "true" (the class passed to `explain`).
    weighting: "guided" (the paper's positive-gradient pooling) or "gradcam" (ReLU of the mean
        gradient).
    prune: drop channels whose weight is at most the paper's pruning threshold (see
        engine.method.PRUNING_THRESHOLDS; zero weights always go).
    reduction: "ward" (Ward on the PCA vectors; the fast default) or "tsne" (the paper's 2-D
        t-SNE, then Ward on the embedding).
    k_min, k_max: the range of cluster counts tried (best silhouette, ties to the smaller k).
    seed: random state of t-SNE (and of anything else random).
    single_cluster: every kept channel in one cluster (used to check the method against Grad-CAM).
    pca_components: the cap of the PCA step, min(cap, n, h·w).
    tsne_perplexity: t-SNE's perplexity when there are more kept maps than it; with fewer maps,
        max(1, (n-1)/3).
    tsne_init: "pca" as in the paper; "random" only to measure t-SNE's own noise floor.
    tsne_max_iter: 500 by default, half of sklearn's 1000 that the paper ran: on EfficientNet-Lite0
        and real photos its clusterings agree with 1000 iterations' better than two 1000-iteration
        runs from different seeds agree with each other, so the extra iterations add no more than
        t-SNE's own noise, at twice the cost (benchmarks/precompute.py).
    """

    target: Target = "predicted"
    weighting: Weighting = "guided"
    prune: bool = True
    reduction: Reduction = "ward"
    k_min: int = 3
    k_max: int = 8
    seed: int = 432
    single_cluster: bool = False
    pca_components: int = 50
    tsne_perplexity: float = 30.0
    tsne_init: Literal["pca", "random"] = "pca"
    tsne_max_iter: int = 500

    def __post_init__(self) -> None:
        checks = (
            ("target", self.target, TARGETS),
            ("weighting", self.weighting, WEIGHTINGS),
            ("reduction", self.reduction, REDUCTIONS),
            ("tsne_init", self.tsne_init, TSNE_INITS),
        )
        for name, value, allowed in checks:
            if value not in allowed:
                raise ValueError(f"ExplainConfig.{name} must be one of {allowed}, not {value!r}")
        if not 2 <= self.k_min <= self.k_max:
            raise ValueError("ExplainConfig needs 2 <= k_min <= k_max")
        if self.pca_components < 2:
            raise ValueError("ExplainConfig.pca_components must be at least 2")
        if self.tsne_perplexity <= 0:
            raise ValueError("ExplainConfig.tsne_perplexity must be positive")
        if self.tsne_max_iter < 250:
            raise ValueError("ExplainConfig.tsne_max_iter must be at least 250 (sklearn's minimum)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def stable_hash(payload: Any) -> str:
    """sha256 hex of a JSON-serialisable payload, independent of dict order."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def config_key(
    *,
    model_name: str,
    weights_hash: str,
    layers: list[str] | tuple[str, ...],
    config: ExplainConfig,
    preprocess: dict[str, Any] | None = None,
) -> str:
    """The identity of an explanation setting: model, weights, layers, parameters, preprocessing."""
    return stable_hash(
        {
            "method_version": METHOD_VERSION,
            "model": model_name,
            "weights": weights_hash,
            "layers": list(layers),
            "config": config.to_dict(),
            "preprocess": preprocess or {},
        }
    )
