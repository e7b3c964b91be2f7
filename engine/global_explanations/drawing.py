"""The PNG charts of global explanations, planned from finished payloads and drawn.

The rebuild explains a class first (payloads, merged maps, overlays), then tests its concepts
against the network, then draws: a panel shows each top concept's verdict, which exists only
after the tests. Everything a chart shows is read from the payloads, so a chart is a pure
function of them: `plan_charts` turns payloads into `ChartJob`s (and writes the chart file names
into the payloads), `draw_charts` draws the jobs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from engine.global_explanations.build import class_dir, slug
from engine.global_explanations.charts import (
    PanelRow,
    TrendLine,
    draw_layer_panel,
    draw_trend_chart,
)

log = logging.getLogger(__name__)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


@dataclass(frozen=True)
class PanelChart:
    """One class at one layer; thumbnails are relative to DATA_DIR."""

    title: str
    subtitle: str
    rows: tuple[PanelRow, ...]

    def draw(self, data_dir: Path, path: Path) -> None:
        rows = [replace(r, thumbnails=[data_dir / t for t in r.thumbnails]) for r in self.rows]
        draw_layer_panel(path, self.title, self.subtitle, rows)


@dataclass(frozen=True)
class TrendChart:
    """One class's concepts across layers."""

    title: str
    layer_labels: tuple[str, ...]
    rising: tuple[TrendLine, ...]
    falling: tuple[TrendLine, ...]

    def draw(self, data_dir: Path, path: Path) -> None:
        draw_trend_chart(path, self.title, self.layer_labels, self.rising, self.falling)


@dataclass(frozen=True)
class ChartJob:
    class_index: int
    file: str  # relative to DATA_DIR
    chart: PanelChart | TrendChart


def panel_chart(payload: dict[str, Any]) -> PanelChart:
    """What the panel of one class × layer shows, from its payload (verdicts included)."""
    concepts = payload.get("concepts", [])
    rows = tuple(
        PanelRow(
            str(c["name"]),
            float(c["weight"]),
            float(c["score"]),
            int(c["clusters"]),
            [str(e["overlay_file"]) for e in c.get("examples", []) if e.get("overlay_file")],
            (c.get("test") or {}).get("verdict"),
        )
        for c in concepts
    )
    subtitle = (
        f"layer {int(payload['layer_position']) + 1} of {len(payload['layers'])}"
        f" · {_count(int(payload['images']), 'image')}"
        f" · top {_count(len(concepts), 'concept')}"
    )
    return PanelChart(f"{payload['class_name']} · {payload['layer_name']}", subtitle, rows)


def trend_chart(payload: dict[str, Any]) -> TrendChart | None:
    """The class's trend chart from any of its layers' payloads; None when nothing rises or
    fades (an empty chart says nothing)."""
    rising, falling = payload.get("rising") or [], payload.get("falling") or []
    if not rising and not falling:
        return None
    entries = {t["concept_id"]: t for t in payload.get("trends", [])}

    def lines(concepts: list[int]) -> tuple[TrendLine, ...]:
        return tuple(
            TrendLine(
                entries[c]["name"] or "?", list(entries[c]["means"]), entries[c]["slope"] or 0.0
            )
            for c in concepts
            if c in entries
        )

    return TrendChart(
        f"{payload['class_name']}: concepts across layers",
        tuple(f"{i + 1}. {name}" for i, name in enumerate(payload["layers"])),
        lines(rising),
        lines(falling),
    )


def plan_charts(explanations: Sequence[dict[str, Any]], generation: int) -> list[ChartJob]:
    """The charts of new explanation rows ({"class_index", "payload", "chart_file", ...}); each
    row's `chart_file` and its payload's `chart_file` and `trend_chart_file` are filled in."""
    jobs: list[ChartJob] = []
    by_class: dict[int, list[dict[str, Any]]] = {}
    for row in explanations:
        by_class.setdefault(int(row["class_index"]), []).append(row)
    for class_index, rows in by_class.items():
        first = rows[0]["payload"]
        # File names are unique on their own (exports may flatten the folders).
        stem = f"{class_dir(class_index, str(first['class_name']))}/c{class_index:04d}"
        trend = trend_chart(first)
        trend_file = None
        if trend is not None:
            trend_file = f"{stem}-trend-g{generation}.png"
            jobs.append(ChartJob(class_index, trend_file, trend))
        for row in rows:
            payload = row["payload"]
            depth, layer = int(payload["depth"]), str(payload["layer_name"])
            chart_file = f"{stem}-{depth:02d}-{slug(layer)}-g{generation}.png"
            jobs.append(ChartJob(class_index, chart_file, panel_chart(payload)))
            row["chart_file"] = payload["chart_file"] = chart_file
            payload["trend_chart_file"] = trend_file
    return jobs


def _draw(data_dir: Path, job: ChartJob) -> BaseException | None:
    try:
        job.chart.draw(data_dir, data_dir / job.file)
    except Exception as exc:  # the class fails, not the rebuild
        return exc
    return None


def draw_charts(
    data_dir: Path,
    jobs: Sequence[ChartJob],
    executor: Executor | None = None,
    progress: Callable[[float], None] | None = None,
) -> tuple[list[ChartJob], dict[int, BaseException]]:
    """Draw `jobs`; returns the jobs drawn and, per class, the first failure of its charts."""
    drawn: list[ChartJob] = []
    failures: dict[int, BaseException] = {}
    if executor is None or len(jobs) < 2:
        outcomes = (_draw(data_dir, job) for job in jobs)
    else:
        outcomes = executor.map(lambda job: _draw(data_dir, job), jobs)
    for n, (job, error) in enumerate(zip(jobs, outcomes, strict=True)):
        if error is None:
            drawn.append(job)
        else:
            failures.setdefault(job.class_index, error)
        if progress is not None:
            progress((n + 1) / len(jobs))
    return drawn, failures
