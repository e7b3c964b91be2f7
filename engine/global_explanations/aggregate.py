"""Global explanations from merged clusters, pure functions.

Per class and layer: the top concepts by summed label score, where each merged cluster counts
for its best concept with its (weight-averaged) best score; each with the mean weight of the
merged clusters it is best in and up to three examples from different images (per image the merged
cluster where it scores highest). Per class and concept: the mean score per layer (over the
class's images that have labelled clusters at that layer, summing the concept's scores over each
image's merged clusters; none at a layer where the concept was never named) and the least-squares
slope of those means over the layers that have one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from engine.labels.scores import MergedGroup

TOP_CONCEPTS = 5
EXAMPLES_PER_CONCEPT = 3
TREND_LINES = 6  # rising and falling concepts drawn per class, as many as the paper's figures show


@dataclass
class TopConcept:
    concept: int
    total: float  # summed best score over the merged clusters it is best in
    mean_weight: float  # mean weight (%) of those merged clusters
    clusters: int  # how many merged clusters it is best in
    examples: list[MergedGroup]  # up to 3, from different images, best score first


def top_concepts(
    groups: Sequence[MergedGroup],
    *,
    top: int = TOP_CONCEPTS,
    examples: int = EXAMPLES_PER_CONCEPT,
    tie_key: Callable[[int], Hashable] | None = None,
) -> list[TopConcept]:
    """The top concepts of the merged clusters of one class at one layer."""
    key = tie_key or (lambda c: c)
    by_concept: dict[int, list[MergedGroup]] = defaultdict(list)
    for group in groups:
        if group.best is not None:
            by_concept[group.best].append(group)
    ranked = sorted(
        by_concept, key=lambda c: (-round(sum(g.best_score for g in by_concept[c]), 9), key(c))
    )
    result = []
    for concept in ranked[:top]:
        members = by_concept[concept]
        per_image: dict[int, MergedGroup] = {}
        for group in sorted(members, key=lambda g: (-g.best_score, g.image_id, g.member_ids)):
            per_image.setdefault(group.image_id, group)
        chosen = sorted(per_image.values(), key=lambda g: (-g.best_score, g.image_id))[:examples]
        result.append(
            TopConcept(
                concept=concept,
                total=float(sum(g.best_score for g in members)),
                mean_weight=float(np.mean([g.weight for g in members])),
                clusters=len(members),
                examples=chosen,
            )
        )
    return result


@dataclass
class Trend:
    concept: int
    means: list[float | None]  # per layer, in depth order; None where the class has no data
    slope: float | None  # least-squares slope per layer step; None with fewer than 2 layers


def layer_trends(groups: Sequence[MergedGroup], depths: Sequence[int]) -> dict[int, Trend]:
    """Mean score per layer and its slope, for every concept of one class's merged clusters."""
    images_at: dict[int, set[int]] = defaultdict(set)
    totals: dict[int, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    for group in groups:
        images_at[group.depth].add(group.image_id)
        for concept, score in group.scores.items():
            totals[concept][group.depth] += score
    x_all = np.arange(len(depths), dtype=np.float64)
    trends: dict[int, Trend] = {}
    for concept in sorted(totals):
        means: list[float | None] = []
        for depth in depths:
            # A layer where nobody named the concept is no data for it, not a score of zero:
            # zero would drag the slope and draw a drop that no answer supports.
            n = len(images_at.get(depth, ()))
            seen = depth in totals[concept]
            means.append(totals[concept][depth] / n if n and seen else None)
        known = [i for i, m in enumerate(means) if m is not None]
        slope = None
        if len(known) >= 2:
            xs = x_all[known]
            ys = np.array([means[i] for i in known], dtype=np.float64)
            slope = float(np.polyfit(xs, ys, 1)[0])
        trends[concept] = Trend(concept, means, slope)
    return trends


def rising_and_falling(
    trends: dict[int, Trend], n: int = TREND_LINES, tie_key: Callable[[int], Hashable] | None = None
) -> tuple[list[Trend], list[Trend]]:
    """The n concepts with the most positive and the n with the most negative slopes."""
    key = tie_key or (lambda c: c)
    sloped = [t for t in trends.values() if t.slope is not None]
    rising = sorted((t for t in sloped if t.slope > 0), key=lambda t: (-t.slope, key(t.concept)))
    falling = sorted((t for t in sloped if t.slope < 0), key=lambda t: (t.slope, key(t.concept)))
    return rising[:n], falling[:n]
