"""TCAV tells the concept a network decides by from one that is merely present.

The network is set by hand, so that what decides is known and nothing is trained in the test:
its first layer (`detect`) holds line detectors on the red channel (one horizontal, one vertical)
and on the green channel, plus a brightness channel; the class score is the difference of the
horizontal and the vertical red line responses, squashed per position. Images are the pointing
test's: a red bar whose orientation decides the class and a green bar of any orientation. The
green bar's red channel equals the background's, so the red detectors cannot see it: it is present
in every image and irrelevant to the class. Random sets come from background-only images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

from engine.tcav import (
    FEW_CLASS_IMAGES,
    FEW_CONCEPT_EXAMPLES,
    NOT_SIGNIFICANT,
    TOO_FEW_EXAMPLES,
    VALIDATED,
    ConceptTest,
    mask_crop,
    pool_in_map,
    run_concept_tests,
    tcav_score,
    train_cav,
)
from engine.tcav_pass import layer_passes, mean_activations

SIZE = 48
SHAPE = 12
BACKGROUND = 0.45
# Bars keep the background's blue; the green bar also keeps its red, so the red line detectors
# cannot see it.
RED = np.array([0.9, 0.1, BACKGROUND])
GREEN = np.array([BACKGROUND, 0.9, BACKGROUND])
LINE = 7  # length of the detectors' line kernels
GREEN_GAIN = 0.0015
THRESHOLD = 2.7  # above a line crossing a bar (about 2.3), below one inside it (3.1)


class HandSetNet(nn.Module):
    """detect: ReLU(line responses) [4, 48, 48]; class 0 logit: horizontal minus vertical red.

    A line response counts only above THRESHOLD, which a line wholly inside a red bar reaches and
    one crossing a bar (4 of its 7 pixels red) does not: each orientation's score sees only its
    own bars.
    """

    def __init__(self) -> None:
        super().__init__()
        conv = nn.Conv2d(3, 4, LINE, padding=LINE // 2)
        with torch.no_grad():
            conv.weight.zero_()
            middle = LINE // 2
            conv.weight[0, 0, middle, :] = 1.0 / LINE  # red, horizontal line
            conv.weight[1, 0, :, middle] = 1.0 / LINE  # red, vertical line
            conv.weight[2, 1, middle, :] = 1.0 / LINE  # green, horizontal line
            conv.weight[3, 1, :, middle] = 1.0 / LINE  # green, vertical line
            # Biases keep every channel active on the background, so that no channel is constant.
            conv.bias.fill_(1.5)
        self.detect = nn.Sequential(conv, nn.ReLU())
        with torch.no_grad():
            blank = torch.full((1, 3, SIZE, SIZE), (BACKGROUND - 0.5) / 0.25)
            self.green_on_background = float(self.detect(blank)[:, 2:].sum())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.detect(x)
        lines = torch.relu(a[:, :2] - THRESHOLD).sum(dim=(2, 3))
        s = lines[:, 0] - lines[:, 1]
        # The green lines move the score too, but which way depends on the image (the sign of its
        # blue noise): present and influential, never a consistent reason for either class.
        sign = torch.tanh(1000 * (x[:, 2].mean(dim=(1, 2)) - (BACKGROUND - 0.5) / 0.25))
        green = a[:, 2:].sum(dim=(1, 2, 3)) - self.green_on_background
        s = s + GREEN_GAIN * sign * green
        return torch.stack([s, -s], dim=1)


Box = tuple[int, int, int, int]


def bar_box(corner: tuple[int, int], kind: int) -> Box:
    y, x = corner
    return (y + 4, x, 4, SHAPE) if kind == 0 else (y, x + 4, SHAPE, 4)


def draw(rng: np.random.Generator, bars: bool = True) -> tuple[np.ndarray, int, Box, Box]:
    """An image, its class (the red bar's orientation) and the red and green bars' boxes."""
    image = np.clip(BACKGROUND + rng.normal(0, 0.08, (SIZE, SIZE, 3)), 0, 1)
    corners: list[tuple[int, int]] = []
    while len(corners) < 2:
        y, x = (int(v) for v in rng.integers(1, SIZE - SHAPE - 1, 2))
        if all(abs(y - cy) > SHAPE + 2 or abs(x - cx) > SHAPE + 2 for cy, cx in corners):
            corners.append((y, x))
    label, other = (int(v) for v in rng.integers(0, 2, 2))
    boxes = (bar_box(corners[0], label), bar_box(corners[1], other))
    if bars:
        for (top, left, height, width), colour in zip(boxes, (RED, GREEN), strict=True):
            image[top : top + height, left : left + width] = colour
    return image.astype(np.float32), label, boxes[0], boxes[1]


def as_batch(images: list[np.ndarray]) -> torch.Tensor:
    x = torch.from_numpy(np.stack(images).transpose(0, 3, 1, 2).copy())
    return (x - 0.5) / 0.25


def box_map(box: Box) -> np.ndarray:
    cluster_map = np.zeros((SIZE, SIZE))
    top, left, height, width = box
    cluster_map[top : top + height, left : left + width] = 1.0
    return cluster_map


@dataclass(frozen=True)
class Case:
    """One synthetic draw: bar images of both classes and background-only images."""

    class_index: int
    items: list[tuple[np.ndarray, int, Box, Box]]
    backgrounds: list[tuple[np.ndarray, int, Box, Box]]

    @property
    def mine(self) -> list[int]:
        """The class's images: their gradients score the CAVs, the first 60 give examples."""
        return [n for n, item in enumerate(self.items) if item[1] == self.class_index]


def synthetic_case(seed: int, class_index: int) -> Case:
    rng = np.random.default_rng(seed)
    items = [draw(rng) for _ in range(240)]
    backgrounds = [draw(rng, bars=False) for _ in range(150)]
    return Case(class_index, items, backgrounds)


def map_pooled(
    case: Case, model: nn.Module
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Concept examples pooled inside their maps from the one pass that also gives gradients."""
    x = as_batch([i[0] for i in case.items] + [b[0] for b in case.backgrounds])
    targets = [case.class_index] * len(x)
    (batch,) = list(layer_passes(model, ["detect"], x, targets, batch_size=len(x)))
    acts, grads = batch.activations["detect"], batch.summed_gradients["detect"]
    labels = np.array([i[1] for i in case.items])
    assert np.mean(batch.logits[: len(case.items)].argmax(1) == labels) >= 0.95
    examples = case.mine[:60]
    concepts = {
        "red bar": np.stack([pool_in_map(acts[n], box_map(case.items[n][2])) for n in examples]),
        "green bar": np.stack([pool_in_map(acts[n], box_map(case.items[n][3])) for n in examples]),
    }
    offset = len(case.items)
    counter = np.stack(
        [
            pool_in_map(acts[offset + n], box_map(box))
            for n, b in enumerate(case.backgrounds)
            for box in (b[2], b[3])
        ]
    )
    return concepts, counter, grads[case.mine]


def masked_crops(
    case: Case, model: nn.Module
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Concept examples from masked crops passed through the network again (spatial means);
    gradients from a pass over the class's images."""
    x = as_batch([case.items[n][0] for n in case.mine])
    (batch,) = list(
        layer_passes(model, ["detect"], x, [case.class_index] * len(x), batch_size=len(x))
    )
    examples = case.mine[:60]
    masked = [
        mask_crop(case.items[n][0], box_map(case.items[n][box])) for box in (2, 3) for n in examples
    ]
    masked += [mask_crop(b[0], box_map(box)) for b in case.backgrounds for box in (b[2], b[3])]
    means = mean_activations(model, ["detect"], as_batch(masked), batch_size=len(masked))["detect"]
    concepts = {
        "red bar": means[: len(examples)],
        "green bar": means[len(examples) : 2 * len(examples)],
    }
    return concepts, means[2 * len(examples) :], batch.summed_gradients["detect"]


EXTRACTIONS = {"map": map_pooled, "masked": masked_crops}


def concept_tests(seed: int, class_index: int, examples: str = "map") -> dict[str, ConceptTest]:
    case = synthetic_case(seed, class_index)
    concepts, counter, grads = EXTRACTIONS[examples](case, HandSetNet())
    return run_concept_tests(concepts, counter, grads, min_examples=10, seed=seed)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("class_index", [0, 1])
def test_the_deciding_concept_is_validated_and_the_distractor_is_not(
    seed: int, class_index: int
) -> None:
    results = concept_tests(seed, class_index)
    deciding, distractor = results["red bar"], results["green bar"]
    assert deciding.verdict == VALIDATED, deciding
    assert deciding.score >= 0.8
    assert distractor.verdict == NOT_SIGNIFICANT, distractor
    assert distractor.p_value >= 0.05


def test_pooling_weights_positions_by_the_map() -> None:
    acts = np.zeros((2, 4, 4))
    acts[0, 0, 0], acts[1, 3, 3] = 8.0, 4.0
    corner = np.zeros((4, 4))
    corner[0, 0] = 1.0
    np.testing.assert_allclose(pool_in_map(acts, corner), [8.0, 0.0])
    np.testing.assert_allclose(pool_in_map(acts, np.zeros((4, 4))), [0.5, 0.25])
    # A finer map is brought to the layer's grid.
    fine = np.zeros((8, 8))
    fine[6:, 6:] = 1.0
    np.testing.assert_allclose(pool_in_map(acts, fine), [0.0, 4.0])


def test_a_masked_crop_is_black_outside_the_map_and_the_map_is_upsampled() -> None:
    pixels = np.full((8, 8, 3), 0.5, dtype=np.float32)
    coarse = np.zeros((2, 2), dtype=np.float32)
    coarse[0, 0] = 1.0
    masked = mask_crop(pixels, coarse)
    assert masked.shape == (8, 8, 3)
    np.testing.assert_allclose(masked[:2, :2], 0.5)  # inside the lit cell
    np.testing.assert_allclose(masked[6:, :], 0.0)  # far from it
    assert 0.0 < masked[3, 3, 0] < 0.5  # bilinear edge between the two
    np.testing.assert_allclose(mask_crop(pixels, np.ones((8, 8))), pixels)


def test_mean_activations_are_the_hooked_activations_averaged_over_positions() -> None:
    rng = np.random.default_rng(4)
    x = as_batch([draw(rng)[0] for _ in range(5)])
    model = HandSetNet()
    (batch,) = list(layer_passes(model, ["detect"], x, [0] * 5, batch_size=5))
    means = mean_activations(model, ["detect"], x, batch_size=2)["detect"]
    assert means.shape == (5, 4)
    np.testing.assert_allclose(means, batch.activations["detect"].mean(axis=(2, 3)), rtol=1e-5)


def test_a_cav_points_from_the_random_set_towards_the_concept() -> None:
    rng = np.random.default_rng(0)
    concept = rng.normal(0, 1, (40, 5)) + np.array([3.0, 0, 0, 0, 0])
    random = rng.normal(0, 1, (40, 5))
    cav = train_cav(concept, random)
    assert cav[0] > 0.9 and np.isclose(np.linalg.norm(cav), 1.0)
    gradients = np.tile([1.0, 0, 0, 0, 0], (10, 1))
    assert tcav_score(gradients, cav) == 1.0
    assert tcav_score(-gradients, cav) == 0.0


def test_too_few_examples_are_marked_not_tested_and_bonferroni_counts_the_tested() -> None:
    rng = np.random.default_rng(1)
    gradients = rng.normal(0, 1, (30, 6))
    counter = rng.normal(0, 1, (80, 6))
    concepts = {
        "a": rng.normal(0, 1, (12, 6)) + 2 * gradients.mean(axis=0),
        "b": rng.normal(0, 1, (12, 6)),
        "few": rng.normal(0, 1, (3, 6)),
    }
    both = run_concept_tests(concepts, counter, gradients, min_examples=5)
    alone = run_concept_tests({"a": concepts["a"]}, counter, gradients, min_examples=5)
    assert both["few"].verdict == TOO_FEW_EXAMPLES
    assert both["few"].score is None and both["few"].examples == 3
    assert len(both["a"].scores) == len(both["a"].random_scores) == 20
    assert both["a"].p_value == pytest.approx(min(1.0, 2 * alone["a"].p_value))
    nothing = run_concept_tests(concepts, counter[:1], gradients, min_examples=5)
    assert {t.verdict for t in nothing.values()} == {TOO_FEW_EXAMPLES}


@pytest.mark.parametrize(("images", "tested"), [(9, False), (10, True)])
def test_a_class_needs_ten_images_to_score_its_concepts(images: int, tested: bool) -> None:
    rng = np.random.default_rng(2)
    gradients = rng.normal(0, 1, (images, 6))
    counter = rng.normal(0, 1, (80, 6))
    concepts = {"a": rng.normal(0, 1, (12, 6)) + 2.0, "few": rng.normal(0, 1, (3, 6))}
    results = run_concept_tests(concepts, counter, gradients, min_examples=5, min_images=10)
    assert results["few"].reason == FEW_CONCEPT_EXAMPLES
    a = results["a"]
    assert a.images == images
    if tested:
        assert a.verdict in (VALIDATED, NOT_SIGNIFICANT) and a.reason is None
        assert a.score is not None and len(a.scores) == 20
    else:
        assert (a.verdict, a.reason, a.score, a.scores) == (
            TOO_FEW_EXAMPLES, FEW_CLASS_IMAGES, None, ()
        )  # fmt: skip
