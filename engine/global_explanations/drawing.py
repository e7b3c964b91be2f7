"""The PNG charts of global explanations: planned from finished payloads, drawn when new.

The rebuild explains a class first (payloads, merged maps, overlays), then tests its concepts
against the network, then draws: a panel shows each top concept's verdict, which exists only
after the tests. Everything a chart shows is read from the payloads, so a chart is a pure
function of them: `plan_charts` turns payloads into `ChartJob`s, `with_chart_files` names the
charts in the payloads, and `draw_charts` draws the jobs whose file does not exist yet.

**Drawn only when the content changes.** A chart's file name carries a hash of everything that
determines its pixels: what it shows (class name, layer, concepts, scores, verdicts, example
files), the source of the drawing code (`charts.py`) and the versions of matplotlib and Pillow.
A chart whose file exists already is reused instead of redrawn: a rebuild redraws only what
changed, and a file that the current generation points at is never overwritten (new content has
a new name). Files no generation references any more are deleted after the switch.

**On every core.** matplotlib draws one figure at a time per process (it is not thread-safe), so
the charts left to draw are spread over a process pool sized to the usable cores, created for the
rebuild and shut down with it. The workers come from a fork server (a clean single-threaded
process that has imported matplotlib once), never from forking the rebuild's own multi-threaded
process. With one core, or too few charts to repay starting the pool, they are drawn here; a
pool that cannot start or breaks leaves its charts to this process too. As with any start method
but fork, a worker imports the program's main module: entry scripts keep their work under
`if __name__ == "__main__"`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field, replace
from functools import cache
from importlib import metadata
from pathlib import Path
from pickle import PicklingError
from typing import Any

from engine.cpus import available_cpus
from engine.global_explanations.charts import (
    PanelRow,
    TrendLine,
    draw_layer_panel,
    draw_trend_chart,
)

log = logging.getLogger(__name__)

CHART_DIR = "charts"
# Fewer charts than this are drawn in the rebuild's process: starting the workers costs more
# than they save. Measured on 2 cores shared with other work (load 6 to 7): a panel takes about
# 0.2 s of CPU; two workers from a warm fork server drew 2 panels in 1.2x the time of this
# process, 4 in 1.0x to 1.3x, 8 in 0.8x to 1.5x, 16 in 1.0x (a cold fork server adds about
# 0.7 s, once per process). On an idle machine the pool's share grows with its cores.
POOL_MIN_CHARTS = 8
# Modules the fork server imports once, so that each worker starts ready to draw.
_PRELOAD = [
    "engine.global_explanations.drawing",
    "matplotlib.figure",
    "matplotlib.backends.backend_agg",
]


def slug(text: str, limit: int = 40) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit] or "x"


def class_dir(class_index: int, class_name: str) -> str:
    return f"{CHART_DIR}/class-{class_index:04d}-{slug(class_name)}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


@cache
def drawing_version() -> str:
    """What besides a chart's content decides its pixels: the drawing code and its libraries."""
    digest = hashlib.sha256((Path(__file__).parent / "charts.py").read_bytes())
    for dist in ("matplotlib", "pillow"):
        try:
            digest.update(f"{dist}={metadata.version(dist)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{dist}=?".encode())
    return digest.hexdigest()[:16]


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
    layer_name: str | None  # None: the class's trend chart
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


def content_hash(chart: PanelChart | TrendChart) -> str:
    """A hash of everything that decides the chart's pixels (thumbnails by their file names:
    an overlay's name says which image and clusters it shows, and its file never changes)."""
    content = {"kind": type(chart).__name__, "chart": asdict(chart), "code": drawing_version()}
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def plan_charts(explanations: Sequence[dict[str, Any]]) -> list[ChartJob]:
    """The charts of new explanation rows ({"class_index", "layer_name", "payload"}), each named
    after its class, its layer and the hash of its content; `with_chart_files` names them in
    the rows."""
    jobs: list[ChartJob] = []
    by_class: dict[int, list[dict[str, Any]]] = {}
    for row in explanations:
        by_class.setdefault(int(row["class_index"]), []).append(row)
    for class_index, rows in by_class.items():
        first = rows[0]["payload"]
        # File names are unique on their own (exports may flatten the folders).
        stem = f"{class_dir(class_index, str(first['class_name']))}/c{class_index:04d}"
        trend = trend_chart(first)
        if trend is not None:
            jobs.append(
                ChartJob(class_index, None, f"{stem}-trend-{content_hash(trend)}.png", trend)
            )
        for row in rows:
            payload = row["payload"]
            depth, layer = int(payload["depth"]), str(payload["layer_name"])
            panel = panel_chart(payload)
            chart_file = f"{stem}-{depth:02d}-{slug(layer)}-{content_hash(panel)}.png"
            jobs.append(ChartJob(class_index, layer, chart_file, panel))
    return jobs


def with_chart_files(
    explanations: Sequence[dict[str, Any]], jobs: Sequence[ChartJob]
) -> list[dict[str, Any]]:
    """Copies of the explanation rows naming their charts: the row's and its payload's
    `chart_file`, and the payload's `trend_chart_file` (the class's, or None)."""
    files = {(job.class_index, job.layer_name): job.file for job in jobs}
    named = []
    for row in explanations:
        class_index = int(row["class_index"])
        chart = files.get((class_index, str(row["payload"]["layer_name"])))
        trend = files.get((class_index, None))
        payload = {**row["payload"], "chart_file": chart, "trend_chart_file": trend}
        named.append({**row, "chart_file": chart, "payload": payload})
    return named


@dataclass
class DrawOutcome:
    drawn: list[ChartJob] = field(default_factory=list)
    reused: list[ChartJob] = field(default_factory=list)  # their file existed: not redrawn
    failures: dict[int, BaseException] = field(default_factory=dict)  # class → first failure
    processes: int = 0  # pool workers used; 0: drawn in this process


def draw_chart(data_dir: Path, job: ChartJob) -> None:
    """Draw one chart (in a pool worker or here)."""
    job.chart.draw(data_dir, data_dir / job.file)


def _warm_up() -> None:
    """A pool worker's start: matplotlib renders with Agg, never with a display."""
    import matplotlib

    matplotlib.use("Agg")


def _context() -> Any:
    """A fork server where there is one (workers forked from a clean process), else spawn."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)  # no effect once the server runs
        return context
    return multiprocessing.get_context("spawn")


def _draw_in_pool(
    data_dir: Path,
    todo: Sequence[ChartJob],
    processes: int,
    record: Callable[[ChartJob, BaseException | None], None],
) -> list[ChartJob]:
    """Draw `todo` on `processes` workers; returns the jobs the pool could not take (a pool
    that cannot start or breaks leaves them to this process)."""
    left = {job.file: job for job in todo}
    try:
        pool = ProcessPoolExecutor(processes, mp_context=_context(), initializer=_warm_up)
    except (OSError, ValueError) as exc:
        log.warning("charts: no process pool (%s); drawing here", exc)
        return list(todo)
    try:
        futures = {pool.submit(draw_chart, data_dir, job): job for job in todo}
        for future in as_completed(futures):
            job = futures[future]
            try:
                future.result()
                error = None
            except BrokenProcessPool:
                raise
            except Exception as exc:  # the chart's class fails, not the rebuild
                error = exc
            del left[job.file]
            record(job, error)
    except (BrokenProcessPool, OSError, AssertionError, PicklingError) as exc:
        # AssertionError: a daemonic process may not start children.
        log.warning(
            "charts: the process pool failed (%r); drawing the %d left here", exc, len(left)
        )
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return list(left.values())


def draw_charts(
    data_dir: Path,
    jobs: Sequence[ChartJob],
    *,
    workers: int | None = None,
    progress: Callable[[float], None] | None = None,
) -> DrawOutcome:
    """Draw the `jobs` whose file does not exist yet, on up to `workers` processes (default:
    the usable cores); a chart that fails is reported for its class, the others are drawn."""
    outcome = DrawOutcome()
    todo: list[ChartJob] = []
    for job in jobs:
        (outcome.reused if (data_dir / job.file).is_file() else todo).append(job)
    done = 0

    def record(job: ChartJob, error: BaseException | None) -> None:
        nonlocal done
        if error is None:
            outcome.drawn.append(job)
        else:
            outcome.failures.setdefault(job.class_index, error)
        done += 1
        if progress is not None:
            progress(done / len(todo))

    processes = min(available_cpus() if workers is None else workers, len(todo))
    if processes > 1 and len(todo) >= POOL_MIN_CHARTS:
        outcome.processes = processes
        todo_here = _draw_in_pool(data_dir, todo, processes, record)
    else:
        todo_here = todo
    for job in todo_here:
        try:
            draw_chart(data_dir, job)
            error = None
        except Exception as exc:  # the chart's class fails, not the rebuild
            error = exc
        record(job, error)
    return outcome
