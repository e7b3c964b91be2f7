"""Turn one class's merged clusters into global-explanation payloads and charts.

A payload (stored as `GlobalExplanation.payload`, one per class and layer that has labelled
clusters) is plain JSON: the top concepts with score, mean weight and example overlays, and the
class's per-concept layer trends. Chart files are written under `DATA_DIR/charts/` with the
generation in their names, so a rebuild never overwrites what the current generation points at.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.globals.aggregate import Trend, layer_trends, rising_and_falling, top_concepts
from engine.globals.charts import PanelRow, TrendLine, draw_layer_panel, draw_trend_chart
from engine.globals.overlays import example_overlay, merged_map_file
from engine.labels.scores import ClusterInfo, MergedGroup

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


def _example(ctx: ClassContext, group: MergedGroup) -> dict[str, Any]:
    overlay = None
    if ctx.draw and group.image_id in ctx.crops and group.map_file:
        overlay = example_overlay(
            ctx.data_dir,
            group.image_id,
            ctx.crops[group.image_id],
            group.member_ids,
            group.map_file,
        )
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


def explain_class(
    ctx: ClassContext,
    merged: list[MergedGroup],
    progress: Callable[[float], None] | None = None,
) -> tuple[list[LayerExplanation], str | None]:
    """Payloads (and charts) per layer of one class, and the class's trend chart file."""
    for group in merged:
        if group.map_file is None:
            group.map_file = merged_map_file(
                ctx.data_dir,
                group.image_id,
                group.member_ids,
                [m.map_file for m in group.members],
                group.member_weights,
            )
    name_of = ctx.concept_names.get
    tie = lambda c: (name_of(c) or "", c)  # noqa: E731 - a sort key
    depths = [d for d, _ in ctx.layers]
    trends = layer_trends(merged, depths)
    rising, falling = rising_and_falling(trends, tie_key=tie)
    folder = class_dir(ctx.class_index, ctx.class_name)
    trend_file: str | None = None
    if ctx.draw and merged:
        trend_file = f"{folder}/trend-g{ctx.generation}.png"
        draw_trend_chart(
            ctx.data_dir / trend_file,
            f"{ctx.class_name}: concepts across layers",
            [f"{i + 1}. {name}" for i, (_, name) in enumerate(ctx.layers)],
            [TrendLine(name_of(t.concept) or "?", t.means, t.slope or 0.0) for t in rising],
            [TrendLine(name_of(t.concept) or "?", t.means, t.slope or 0.0) for t in falling],
        )
    trend_entries = [_trend_entry(trends[c], name_of(c) or "") for c in sorted(trends, key=tie)]
    by_layer: dict[tuple[int, str], list[MergedGroup]] = defaultdict(list)
    for group in merged:
        by_layer[(group.depth, group.layer_name)].append(group)
    results: list[LayerExplanation] = []
    places = [place for place in ctx.layers if place in by_layer]
    for step, (depth, layer_name) in enumerate(places):
        groups = by_layer[(depth, layer_name)]
        top = top_concepts(groups, tie_key=tie)
        if not top:
            continue
        position = depths.index(depth)
        concepts = []
        for rank, item in enumerate(top, start=1):
            trend = trends.get(item.concept)
            concepts.append(
                {
                    "rank": rank,
                    "concept_id": item.concept,
                    "name": name_of(item.concept) or "",
                    "score": round(item.total, 6),
                    "weight": round(item.mean_weight, 6),
                    "clusters": item.clusters,
                    "examples": [_example(ctx, g) for g in item.examples],
                    "layer_means": _trend_entry(trend, "")["means"] if trend else None,
                    "slope": None
                    if trend is None or trend.slope is None
                    else round(trend.slope, 6),
                }
            )
        chart_file = None
        if ctx.draw:
            chart_file = f"{folder}/{depth:02d}-{slug(layer_name)}-g{ctx.generation}.png"
            draw_layer_panel(
                ctx.data_dir / chart_file,
                f"{ctx.class_name} · {layer_name}",
                f"layer {position + 1} of {len(depths)} · {len({g.image_id for g in groups})} images"
                f" · top {len(concepts)} concepts",
                [
                    PanelRow(
                        c["name"],
                        c["weight"],
                        c["score"],
                        c["clusters"],
                        [
                            ctx.data_dir / e["overlay_file"]
                            for e in c["examples"]
                            if e["overlay_file"]
                        ],
                    )
                    for c in concepts
                ],
            )
        payload = {
            "generation": ctx.generation,
            "class_index": ctx.class_index,
            "class_name": ctx.class_name,
            "layer_name": layer_name,
            "depth": depth,
            "layer_position": position,
            "layers": [name for _, name in ctx.layers],
            "images": len({g.image_id for g in groups}),
            "merged_clusters": len(groups),
            "class_answers": ctx.class_answers,
            "concepts": concepts,
            "chart_file": chart_file,
            "trend_chart_file": trend_file,
            "rising": [t.concept for t in rising],
            "falling": [t.concept for t in falling],
            "trends": trend_entries,
        }
        results.append(LayerExplanation(layer_name, depth, payload, chart_file))
        if progress is not None:
            progress((step + 1) / len(places))
    return results, trend_file


def cluster_infos(rows: list[tuple[Any, ...]]) -> dict[int, ClusterInfo]:
    """ClusterInfo per id from (id, image_id, layer_name, depth, weight, n_maps, map_file) rows."""
    return {
        int(r[0]): ClusterInfo(
            int(r[0]), int(r[1]), str(r[2]), int(r[3]), float(r[4]), int(r[5]), str(r[6])
        )
        for r in rows
    }
