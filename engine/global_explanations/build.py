"""Turn one class's merged clusters into global-explanation payloads and charts.

A payload (stored as `GlobalExplanation.payload`, one per class and layer that has labelled
clusters) is plain JSON: the top concepts with score, mean weight and example overlays, and the
class's per-concept layer trends. Chart files are written under `DATA_DIR/charts/` with the
generation in their names, so a rebuild never overwrites what the current generation points at.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from engine.global_explanations.aggregate import (
    Trend,
    layer_trends,
    rising_and_falling,
    top_concepts,
)
from engine.global_explanations.charts import (
    PanelRow,
    TrendLine,
    draw_layer_panel,
    draw_trend_chart,
)
from engine.global_explanations.overlays import example_overlay, merged_map_file
from engine.labels.scores import ClusterInfo, MergedGroup

log = logging.getLogger(__name__)

CHART_DIR = "charts"


def slug(text: str, limit: int = 40) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit] or "x"


def class_dir(class_index: int, class_name: str) -> str:
    return f"{CHART_DIR}/class-{class_index:04d}-{slug(class_name)}"


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
    draw: bool = True


@dataclass
class LayerExplanation:
    layer_name: str
    depth: int
    payload: dict[str, Any]
    chart_file: str | None


def _example(group: MergedGroup, overlay: str | None) -> dict[str, Any]:
    return {
        "image_id": group.image_id,
        "cluster_ids": group.member_ids,
        "weight": round(group.weight, 6),
        "score": round(group.best_score, 6),
        "map_file": group.map_file,
        "overlay_file": overlay,
    }


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


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
) -> tuple[list[LayerExplanation], str | None]:
    """Payloads (and charts) per layer of one class, and the class's trend chart file.

    Merged maps, overlays and charts are files; with an `executor` they are written in parallel.
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
        if not ctx.draw or group.image_id not in ctx.crops or not group.map_file:
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

    folder = class_dir(ctx.class_index, ctx.class_name)
    # File names are unique on their own (exports may flatten the folders).
    stem = f"{folder}/c{ctx.class_index:04d}"
    # No trend chart for a class with nothing rising or fading: an empty chart says nothing.
    has_trends = bool(rising or falling)
    trend_file = f"{stem}-trend-g{ctx.generation}.png" if ctx.draw and has_trends else None
    jobs: list[Callable[[], None]] = []
    if trend_file is not None:
        lines = [
            [TrendLine(name_of(t.concept) or "?", t.means, t.slope or 0.0) for t in chosen]
            for chosen in (rising, falling)
        ]
        jobs.append(
            partial(
                draw_trend_chart,
                ctx.data_dir / trend_file,
                f"{ctx.class_name}: concepts across layers",
                [f"{i + 1}. {name}" for i, (_, name) in enumerate(ctx.layers)],
                lines[0],
                lines[1],
            )
        )
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
        chart_file = None
        if ctx.draw:
            chart_file = f"{stem}-{depth:02d}-{slug(layer_name)}-g{ctx.generation}.png"
            rows = [
                PanelRow(
                    c["name"],
                    c["weight"],
                    c["score"],
                    c["clusters"],
                    [ctx.data_dir / e["overlay_file"] for e in c["examples"] if e["overlay_file"]],
                )
                for c in concepts
            ]
            subtitle = (
                f"layer {position + 1} of {len(depths)} · {_count(images, 'image')}"
                f" · top {_count(len(concepts), 'concept')}"
            )
            jobs.append(
                partial(
                    draw_layer_panel,
                    ctx.data_dir / chart_file,
                    f"{ctx.class_name} · {layer_name}",
                    subtitle,
                    rows,
                )
            )
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
            "chart_file": chart_file,
            "trend_chart_file": trend_file,
            "rising": [t.concept for t in rising],
            "falling": [t.concept for t in falling],
            "trends": trend_entries,
        }
        results.append(LayerExplanation(layer_name, depth, payload, chart_file))
    _map(executor, lambda job: job(), jobs)
    if progress is not None:
        progress(1.0)
    return results, trend_file


def cluster_infos(rows: list[tuple[Any, ...]]) -> dict[int, ClusterInfo]:
    """ClusterInfo per id from (id, image_id, layer_name, depth, weight, n_maps, map_file) rows."""
    return {
        int(r[0]): ClusterInfo(
            int(r[0]), int(r[1]), str(r[2]), int(r[3]), float(r[4]), int(r[5]), str(r[6])
        )
        for r in rows
    }
