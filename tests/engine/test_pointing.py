"""Pointing test: the heaviest cluster of a trained CNN's last layer lands on the evidence.

Synthetic images hold two shapes on a noisy background: a red bar whose orientation (horizontal or
vertical) decides the class, and a green distractor bar of a random orientation. (Both classes need
evidence that is present, not absent: with square vs disc, one class is "no corners", and a
gradient explanation of an absence has nothing to point at.) A small CNN is trained for a few
seconds; on held-out images the peak of the heaviest cluster map of its last layer must lie inside
the deciding shape, not the distractor, in at least 90 % of them.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from engine import ExplainConfig, Explainer

SIZE = 48
SHAPE = 12  # side of a shape's box in pixels
RED, GREEN = np.array([0.9, 0.1, 0.1]), np.array([0.1, 0.8, 0.1])


Box = tuple[int, int, int, int]  # top, left, height, width


def bar_box(corner: tuple[int, int], kind: int) -> Box:
    """A bar across the middle of a SHAPE-sized box: kind 0 horizontal, 1 vertical."""
    y, x = corner
    return (y + 4, x, 4, SHAPE) if kind == 0 else (y, x + 4, SHAPE, 4)


def draw(rng: np.random.Generator) -> tuple[np.ndarray, int, Box, Box]:
    """An image, its class (the red bar's orientation), and the boxes of both bars."""
    image = np.clip(0.45 + rng.normal(0, 0.08, (SIZE, SIZE, 3)), 0, 1)
    corners: list[tuple[int, int]] = []
    while len(corners) < 2:
        y, x = (int(v) for v in rng.integers(1, SIZE - SHAPE - 1, 2))
        if all(abs(y - cy) > SHAPE + 2 or abs(x - cx) > SHAPE + 2 for cy, cx in corners):
            corners.append((y, x))
    label = int(rng.integers(0, 2))
    distractor = int(rng.integers(0, 2))
    for (y, x), kind, colour in ((corners[0], label, RED), (corners[1], distractor, GREEN)):
        top, left, height, width = bar_box((y, x), kind)
        image[top : top + height, left : left + width] = colour
    boxes = (bar_box(corners[0], label), bar_box(corners[1], distractor))
    return image.astype(np.float32), label, boxes[0], boxes[1]


def dataset(seed: int, n: int):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    items = [draw(rng) for _ in range(n)]
    x = torch.from_numpy(np.stack([i[0] for i in items]).transpose(0, 3, 1, 2).copy())
    return (
        (x - 0.5) / 0.25,
        torch.tensor([i[1] for i in items]),
        [i[2] for i in items],
        [i[3] for i in items],
    )


class ShapeNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 32, 3, padding=1),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(32, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).mean(dim=(2, 3)))


def inside(point: tuple[float, float], box: Box, margin: float = 3.0) -> bool:
    """Within the bar, allowing for half a cell of the 4-pixel map grid."""
    y, x = point
    top, left, height, width = box
    return (
        top - margin <= y <= top + height + margin and left - margin <= x <= left + width + margin
    )


@pytest.mark.slow
def test_heaviest_last_layer_cluster_points_at_the_deciding_shape() -> None:
    torch.manual_seed(0)
    model = ShapeNet()
    x_train, y_train, _, _ = dataset(0, 1024)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    model.train()
    for _epoch in range(4):
        for batch in torch.randperm(len(x_train), generator=generator).split(64):
            optimiser.zero_grad()
            nn.functional.cross_entropy(model(x_train[batch]), y_train[batch]).backward()
            optimiser.step()

    x_test, y_test, deciding, distractor = dataset(1, 100)
    explainer = Explainer(model, ["features.7"], ExplainConfig(), device="cpu", input_size=SIZE)
    results = explainer.explain(x_test)
    explainer.close()
    accuracy = np.mean([r.predicted == int(y) for r, y in zip(results, y_test, strict=True)])
    assert accuracy >= 0.9, f"the toy network did not learn the task ({accuracy:.2f})"

    hits = misses_on_distractor = 0
    for result, good, bad in zip(results, deciding, distractor, strict=True):
        layer = result.layers["features.7"]
        assert layer.clusters, "the last layer must have clusters"
        heaviest = layer.clusters[0].map
        row, col = np.unravel_index(int(np.argmax(heaviest)), heaviest.shape)
        cell = SIZE / heaviest.shape[0]
        centre = ((row + 0.5) * cell, (col + 0.5) * cell)
        hits += inside(centre, good)
        misses_on_distractor += inside(centre, bad)
    assert hits >= 90, f"heaviest cluster peaked on the deciding shape in {hits}/100 images"
    assert misses_on_distractor <= 10
