"""Turn one class's merged clusters into global-explanation payloads.

A payload (stored as `GlobalExplanation.payload`, one per class and layer that has labelled
clusters) is plain JSON: the top concepts with score, mean weight and example overlays, and the
class's per-concept layer trends. Everything a PNG chart shows is in the payloads, so the charts
are drawn from them later (`engine.global_explanations.drawing`), once the concept tests have
added their verdicts.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from engine.global_explanations.aggregate import (
    Trend,
    layer_trends,
    rising_and_falling,
    top_concepts,
)
from engine.global_explanations.overlays import example_overlay, merged_map_file
from engine.labels.scores import ClusterInfo, MergedGroup

log = logging.getLogger(__name__)


@dataclass
class ClassContext:
    class_index: int
    class_name: str
    generation: int
    data_dir: Path
    layers: list[tuple[int, str]]  # (depth, layer name) of the class's clusters, shallow to deep
    concept_names: dict[int, str]
    crops: dict[int, str]  # image id → crop file
    class_answers: int  # answers of the class that map to a concept


@dataclass
class LayerExplanation:
    layer_name: str
    depth: int
    payload: dict[str, Any]


def _example(group: MergedGroup, overlay: str | None) -> dict[str, Any]:
    return {
        "image_id": group.image_id,
        "cluster_ids": group.member_ids,
        "weight": round(group.weight, 6),
        "score": round(group.best_score, 6),
        "map_file": group.map_file,
        "overlay_file": overlay,
    }


def _trend_entry(trend: Trend, name: str) -> dict[str, Any]:
    return {
        "concept_id": trend.concept,
        "name": name,
        "means": [None if m is None else round(m, 6) for m in trend.means],
        "slope": None if trend.slope is None else round(trend.slope, 6),
    }


T = TypeVar("T")
R = TypeVar("R")


def _map(executor: Executor | None, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """fn over items, on the executor's threads when there is one (file work is GIL-free)."""
    if executor is None or len(items) < 2:
        return [fn(item) for item in items]
    return list(executor.map(fn, items))


def explain_class(
    ctx: ClassContext,
    merged: list[MergedGroup],
    progress: Callable[[float], None] | None = None,
    executor: Executor | None = None,
) -> list[LayerExplanation]:
    """Payloads per layer of one class, with the merged maps and example overlays they name.

    Merged maps and overlays are files; with an `executor` they are written in parallel. The PNG
    charts are not drawn here: they show the concept tests' verdicts, which come later.
    """

    def write_merged_map(group: MergedGroup) -> None:
        try:
            group.map_file = merged_map_file(
                ctx.data_dir,
                group.image_id,
                group.member_ids,
                [m.map_file for m in group.members],
                group.member_weights,
            )
        except (OSError, ValueError) as exc:  # a missing map costs its picture, not the rebuild
            log.warning("no merged map for clusters %s: %s", group.member_ids, exc)

    _map(executor, write_merged_map, [g for g in merged if g.map_file is None])
    name_of = ctx.concept_names.get
    tie = lambda c: (name_of(c) or "", c)  # noqa: E731 - a sort key
    depths = [d for d, _ in ctx.layers]
    trends = layer_trends(merged, depths)
    rising, falling = rising_and_falling(trends, tie_key=tie)
    trend_entries = [_trend_entry(trends[c], name_of(c) or "") for c in sorted(trends, key=tie)]
    by_layer: dict[tuple[int, str], list[MergedGroup]] = defaultdict(list)
    for group in merged:
        by_layer[(group.depth, group.layer_name)].append(group)
    places = [place for place in ctx.layers if place in by_layer]
    tops = {place: top_concepts(by_layer[place], tie_key=tie) for place in places}
    places = [place for place in places if tops[place]]

    # Example overlays, rendered once per merged cluster.
    examples = {tuple(g.member_ids): g for p in places for item in tops[p] for g in item.examples}

    def render(group: MergedGroup) -> str | None:
        if group.image_id not in ctx.crops or not group.map_file:
            return None
        crop = ctx.crops[group.image_id]
        try:
            return example_overlay(
                ctx.data_dir, group.image_id, crop, group.member_ids, group.map_file
            )
        except (OSError, ValueError) as exc:
            log.warning("no overlay for clusters %s: %s", group.member_ids, exc)
            return None

    groups = list(examples.values())
    overlays = dict(zip(examples, _map(executor, render, groups), strict=True))
    if progress is not None:
        progress(0.5)

    results: list[LayerExplanation] = []
    for depth, layer_name in places:
        layer_groups = by_layer[(depth, layer_name)]
        position = depths.index(depth)
        concepts = []
        for rank, item in enumerate(tops[(depth, layer_name)], start=1):
            trend = trends.get(item.concept)
            concepts.append(
                {
                    "rank": rank,
                    "concept_id": item.concept,
                    "name": name_of(item.concept) or "",
                    "score": round(item.total, 6),
                    "weight": round(item.mean_weight, 6),
                    "clusters": item.clusters,
                    "examples": [_example(g, overlays[tuple(g.member_ids)]) for g in item.examples],
                    "layer_means": _trend_entry(trend, "")["means"] if trend else None,
                    "slope": None
                    if trend is None or trend.slope is None
                    else round(trend.slope, 6),
                }
            )
        images = len({g.image_id for g in layer_groups})
        payload = {
            "generation": ctx.generation,
            "class_index": ctx.class_index,
            "class_name": ctx.class_name,
            "layer_name": layer_name,
            "depth": depth,
            "layer_position": position,
            "layers": [name for _, name in ctx.layers],
            "images": images,
            "merged_clusters": len(layer_groups),
            "class_answers": ctx.class_answers,
            "concepts": concepts,
            # The charts are drawn after the concept tests (engine.global_explanations.drawing),
            # which fills these in.
            "chart_file": None,
            "trend_chart_file": None,
            "rising": [t.concept for t in rising],
            "falling": [t.concept for t in falling],
            "trends": trend_entries,
        }
        results.append(LayerExplanation(layer_name, depth, payload))
    if progress is not None:
        progress(1.0)
    return results


def cluster_infos(rows: list[tuple[Any, ...]]) -> dict[int, ClusterInfo]:
    """ClusterInfo per id from (id, image_id, layer_name, depth, weight, n_maps, map_file) rows."""
    return {
        int(r[0]): ClusterInfo(
            int(r[0]), int(r[1]), str(r[2]), int(r[3]), float(r[4]), int(r[5]), str(r[6])
        )
        for r in rows
    }
