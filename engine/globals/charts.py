"""PNG charts of global explanations, sized for a phone screen (about 960 px wide).

- One panel per class and layer, like the paper's: one row per top concept, its name in bold with
  the mean weight and summed score, and up to three example overlays from different images.
- One trend chart per class: the concepts whose mean score rises most with depth, and those that
  fade most.

matplotlib's object API with the Agg canvas is used (no pyplot state), so charts can be drawn from
a worker thread. Thumbnails are pasted into one image per figure, which keeps drawing fast.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

WIDTH = 960
DPI = 100
MARGIN = 24
GAP = 12
HEADER = 96
CAPTION = 64
ROW_GAP = 22
THUMBS_PER_ROW = 3
THUMB = (WIDTH - 2 * MARGIN - (THUMBS_PER_ROW - 1) * GAP) // THUMBS_PER_ROW
PNG_OPTIONS = {"compress_level": 3}  # photos in PNGs: level 3 is much faster and barely larger


@dataclass
class PanelRow:
    name: str
    weight: float
    score: float
    clusters: int
    thumbnails: list[Path] = field(default_factory=list)  # overlay image files


def _thumbnail(path: Path, size: int) -> np.ndarray:
    from PIL import Image as PILImage

    with PILImage.open(path) as img:
        img = img.convert("RGB")
        img.thumbnail((size, size))
        canvas = PILImage.new("RGB", (size, size), (255, 255, 255))
        canvas.paste(img, ((size - img.width) // 2, (size - img.height) // 2))
        return np.asarray(canvas)


def _save(fig: object, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)  # type: ignore[arg-type]
    buffer = io.BytesIO()
    canvas.print_png(buffer, pil_kwargs=PNG_OPTIONS)  # type: ignore[call-arg]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(buffer.getvalue())
    tmp.replace(path)


def draw_layer_panel(path: Path, title: str, subtitle: str, rows: Sequence[PanelRow]) -> None:
    """One class at one layer: a row per concept with up to three example overlays."""
    from matplotlib.figure import Figure

    row_height = CAPTION + THUMB + ROW_GAP
    height = HEADER + max(len(rows), 1) * row_height + MARGIN
    mosaic = np.full((height, WIDTH, 3), 255, dtype=np.uint8)
    for r, row in enumerate(rows):
        top = HEADER + r * row_height + CAPTION
        for t, thumb_path in enumerate(row.thumbnails[:THUMBS_PER_ROW]):
            left = MARGIN + t * (THUMB + GAP)
            mosaic[top : top + THUMB, left : left + THUMB] = _thumbnail(thumb_path, THUMB)
    fig = Figure(figsize=(WIDTH / DPI, height / DPI), dpi=DPI)
    fig.figimage(mosaic, 0, 0, origin="upper")

    def text(x: float, y: float, s: str, **kw: object) -> None:
        fig.text(x / WIDTH, 1 - y / height, s, va="top", ha="left", **kw)  # type: ignore[arg-type]

    text(MARGIN, 18, title, fontsize=22, fontweight="bold")
    text(MARGIN, 56, subtitle, fontsize=14, color="#444444")
    if not rows:
        text(MARGIN, HEADER + 10, "no concepts yet", fontsize=16, color="#666666")
    for r, row in enumerate(rows):
        y = HEADER + r * row_height
        text(MARGIN, y + 4, f"{r + 1}. {row.name}", fontsize=20, fontweight="bold")
        details = (
            f"weight = {row.weight:.2f}%   score = {row.score:.2f}   clusters = {row.clusters}"
        )
        text(MARGIN, y + 36, details, fontsize=13, color="#333333")
    _save(fig, path)


@dataclass
class TrendLine:
    name: str
    means: list[float | None]
    slope: float


def draw_trend_chart(
    path: Path,
    title: str,
    layer_labels: Sequence[str],
    rising: Sequence[TrendLine],
    falling: Sequence[TrendLine],
) -> None:
    """Mean score per layer of the concepts that grow and fade most with depth."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH / DPI, 13.0), dpi=DPI)
    axes = fig.subplots(2, 1)
    fig.suptitle(title, fontsize=20, fontweight="bold", x=0.03, ha="left")
    x = np.arange(len(layer_labels))
    for ax, lines, heading in (
        (axes[0], rising, "rising with depth"),
        (axes[1], falling, "fading with depth"),
    ):
        ax.set_title(heading, fontsize=16, loc="left")
        for line in lines:
            y = np.array([np.nan if m is None else m for m in line.means], dtype=np.float64)
            ax.plot(
                x,
                y,
                marker="o",
                linewidth=2.5,
                markersize=6,
                label=f"{line.name} ({line.slope:+.2f})",
            )
        if not lines:
            ax.text(
                0.5, 0.5, "none", transform=ax.transAxes, ha="center", fontsize=14, color="#666"
            )
        ax.set_xticks(x)
        ax.set_xticklabels(layer_labels, rotation=35, ha="right", fontsize=12)
        ax.tick_params(axis="y", labelsize=12)
        ax.set_ylabel("mean score per image", fontsize=13)
        ax.grid(alpha=0.3)
        if lines:
            ax.legend(
                fontsize=12, loc="upper left", bbox_to_anchor=(0.0, -0.28), ncol=2, frameon=False
            )
    fig.subplots_adjust(left=0.1, right=0.97, top=0.93, bottom=0.14, hspace=0.95)
    _save(fig, path)
