"""The engine's TCAV scores equal captum's `TCAV` given the same activations and the same CAVs.

captum computes the layer's activations of the concept images itself and hands them, flattened,
to a classifier. The classifier here pools them over positions (the engine's pooling with a map
that covers the whole image) and trains the engine's CAV on them, so both sides score the same
CAVs; captum then takes each image's gradient at the layer (its flattened CAV is the channel CAV
repeated at every position) and counts the positive directional derivatives.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from captum.attr import LayerGradientXActivation
from captum.concept import TCAV, Concept
from captum.concept._utils.classifier import Classifier
from torch.utils.data import DataLoader

from engine.tcav import pool_in_map, tcav_score, train_cav
from engine.tcav_pass import layer_passes
from tests.engine.test_tcav import SIZE, HandSetNet, as_batch, draw

LAYER = "detect"
SEED = 3


class EngineCavs(Classifier):
    """A captum classifier that trains the engine's CAV on captum's flattened activations."""

    def __init__(self, channels: int) -> None:
        self.channels = channels
        self.pooled: list[np.ndarray] = []  # per experimental set: the concept's pooled examples
        self._weights: torch.Tensor | None = None
        self._classes: list[int] = []

    def train_and_eval(self, dataloader, **kwargs):  # type: ignore[no-untyped-def,override]
        xs, ys = [], []
        for x, y in dataloader:
            xs.append(x.double().numpy())
            ys.append(y.numpy())
        x = np.concatenate(xs).reshape(-1, self.channels, SIZE * SIZE).mean(axis=2)
        y = np.concatenate(ys)
        first, second = int(y[0]), int(next(v for v in y if v != y[0]))
        cav = train_cav(x[y == first], x[y == second], seed=SEED)
        self.pooled.append(x[y == first])
        flat = torch.from_numpy(np.repeat(cav, SIZE * SIZE)).float()
        self._weights = torch.stack([flat, -flat])
        self._classes = [first, second]
        return {"accs": torch.tensor(1.0)}

    def weights(self) -> torch.Tensor:
        assert self._weights is not None
        return self._weights

    def classes(self) -> list[int]:
        return self._classes


def test_scores_match_captum_tcav(tmp_path: Path) -> None:
    rng = np.random.default_rng(SEED)
    items = [draw(rng) for _ in range(80)]
    horizontal = as_batch([i[0] for i in items if i[1] == 0][:20])
    randoms = [as_batch([draw(rng, bars=False)[0] for _ in range(20)]) for _ in range(2)]
    scored = as_batch([i[0] for i in items if i[1] == 0][20:])
    model = HandSetNet().eval()

    def pooled(images: torch.Tensor) -> np.ndarray:
        (batch,) = list(layer_passes(model, [LAYER], images, [0] * len(images), batch_size=64))
        whole = np.ones((SIZE, SIZE))
        return np.stack([pool_in_map(a, whole) for a in batch.activations[LAYER]])

    concept, random_a, random_b = pooled(horizontal), pooled(randoms[0]), pooled(randoms[1])
    (scored_batch,) = list(layer_passes(model, [LAYER], scored, [0] * len(scored), batch_size=64))
    gradients = scored_batch.summed_gradients[LAYER]
    engine_cavs = [
        train_cav(concept, random_a, seed=SEED),
        train_cav(concept, random_b, seed=SEED),
        train_cav(random_a, random_b, seed=SEED),
    ]
    engine_scores = [tcav_score(gradients, cav) for cav in engine_cavs]

    concepts = [
        Concept(0, "horizontal", DataLoader(horizontal, batch_size=8)),
        Concept(1, "random_a", DataLoader(randoms[0], batch_size=8)),
        Concept(2, "random_b", DataLoader(randoms[1], batch_size=8)),
    ]
    sets = [[concepts[0], concepts[1]], [concepts[0], concepts[2]], [concepts[1], concepts[2]]]
    classifier = EngineCavs(channels=concept.shape[1])
    tcav = TCAV(
        model,
        [LAYER],
        model_id="hand-set",
        classifier=classifier,
        layer_attr_method=LayerGradientXActivation(model, None, multiply_by_inputs=False),
        save_path=str(tmp_path / "cav"),
    )
    results = tcav.interpret(scored, sets, target=0)

    # The same activations reached both sides ...
    np.testing.assert_allclose(classifier.pooled[0], concept, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(classifier.pooled[2], random_a, rtol=1e-5, atol=1e-6)
    # ... and the same CAVs give the same scores, up to one image whose derivative is ~0.
    captum_scores = [float(results[key][LAYER]["sign_count"][0]) for key in ("0-1", "0-2", "1-2")]
    tolerance = 1.0 / len(scored) + 1e-9
    np.testing.assert_allclose(captum_scores, engine_scores, atol=tolerance)
    assert engine_scores[0] >= 0.8  # the class's own concept, as a check that something is scored
