"""What `Explainer.explain` returns: plain dataclasses holding numpy arrays (no torch)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class ClusterExplanation:
    """A group of channels of one layer that highlight the same region."""

    channels: np.ndarray  # int64 channel indices, ascending
    weight: float  # percent of the layer's importance (not renormalised after pruning/filtering)
    map: np.ndarray  # float32 [h, w] in [0, 1], native resolution

    @property
    def n_maps(self) -> int:
        return int(self.channels.size)


@dataclass
class LayerExplanation:
    """One layer of one image: channel weights, Grad-CAM and the surviving clusters."""

    name: str
    channel_weights: np.ndarray  # float64 [K], percent; sums to 100 unless all are zero
    gradcam: np.ndarray  # float32 [h, w], ReLU(sum_k mean(G_k) A_k), not normalised
    clusters: list[ClusterExplanation]  # heaviest first, after the weight filter
    kept_channels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    # Cluster id of each kept channel before the weight filter; ids are ranks by weight (0 =
    # heaviest), so `labels == 0` are the channels of `clusters[0]`.
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    n_clusters: int = 0  # clusters before the weight filter
    silhouette: float | None = None  # of the chosen k; None when no choice was made

    @property
    def channels(self) -> int:
        return int(self.channel_weights.size)

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.gradcam.shape[0]), int(self.gradcam.shape[1]))

    @property
    def kept_weight(self) -> float:
        """Percent of the layer's importance carried by the channels that were clustered."""
        return (
            float(self.channel_weights[self.kept_channels].sum())
            if self.kept_channels.size
            else 0.0
        )


@dataclass
class ImageExplanation:
    """All explained layers of one image, in the order the layers were given (shallow to deep)."""

    target: int
    logits: np.ndarray  # float32 [num_classes]
    layers: dict[str, LayerExplanation]

    @property
    def predicted(self) -> int:
        return int(np.argmax(self.logits))

    @property
    def probabilities(self) -> np.ndarray:
        z = self.logits.astype(np.float64) - float(np.max(self.logits))
        e = np.exp(z)
        return e / e.sum()
