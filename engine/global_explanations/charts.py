"""PNG charts of global explanations, sized for a phone screen (744 px wide).

- One panel per class and layer, like the paper's: one row per top concept, its name in bold with
  the mean weight and summed score, the network's verdict on it (TCAV) as a badge, and up to three
  example overlays from different images.
- One trend chart per class: the concepts whose mean score rises most with depth, and those that
  fade most.

matplotlib's object API with the Agg canvas is used (no pyplot state), so charts can be drawn from
a worker thread. Thumbnails are pasted into the rendered pixels, which keeps drawing fast.

Concept names are typed by the crowd: every text is drawn with math parsing off, so "$", "^" or
"\\" are drawn as typed and can never raise a mathtext error. Control characters are replaced by
spaces and very long texts are cut, so one label cannot break or swamp a chart.
"""

from __future__ import annotations

import threading
import unicodedata
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.tcav import NOT_SIGNIFICANT, TOO_FEW_EXAMPLES, VALIDATED

WIDTH = 744  # three 224 px thumbnails, the crops' own size, with margins
DPI = 100
MARGIN = 24
GAP = 12
HEADER = 112  # title, subtitle and the badges' legend
CAPTION = 64
ROW_GAP = 22
THUMBS_PER_ROW = 3
THUMB = (WIDTH - 2 * MARGIN - (THUMBS_PER_ROW - 1) * GAP) // THUMBS_PER_ROW
PNG_COMPRESSION = 1  # photos in PNGs: level 1 is several times faster than 6 and barely larger


MAX_DRAWN_TEXT = 120  # characters of one text line on a 744 px chart; the rest is cut


def plain(text: str, limit: int = MAX_DRAWN_TEXT) -> str:
    """`text` as a chart may draw it: control and format characters (bidi overrides, zero-width
    marks) become spaces, and it is cut to `limit` characters with an ellipsis."""
    cleaned = "".join(
        " " if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") else ch
        for ch in text[: limit * 4]
    )
    cleaned = " ".join(cleaned.split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


@dataclass
class PanelRow:
    name: str
    weight: float
    score: float
    clusters: int
    thumbnails: list[Path] = field(default_factory=list)  # overlay image files
    verdict: str | None = None  # the concept test's verdict; None: not tested


@dataclass(frozen=True)
class Mark:
    """How a panel row shows the concept test's verdict: a symbol and the verdict's own words,
    so the mark reads without its colour (and in greyscale)."""

    symbol: str
    text: str
    colour: str  # text and border
    fill: str  # badge background


# The words are the verdicts as the payload, the database and the report carry them; "not
# tested" is the report's word for a concept without a verdict.
_MARKS = {
    VALIDATED: Mark("✔", VALIDATED, "#116329", "#dafbe1"),
    NOT_SIGNIFICANT: Mark("✘", NOT_SIGNIFICANT, "#9a3412", "#ffedd5"),
    TOO_FEW_EXAMPLES: Mark("○", TOO_FEW_EXAMPLES, "#444444", "#eeeeee"),
}
LEGEND = "badge: does the network itself use the concept for this class? (TCAV test)"
NOT_TESTED = Mark("–", "not tested", "#666666", "#ffffff")


def verdict_mark(verdict: str | None) -> Mark:
    """The badge of a verdict; an unknown verdict is drawn with its own words, neutrally."""
    if verdict is None:
        return NOT_TESTED
    known = _MARKS.get(verdict)
    return known or Mark("?", plain(str(verdict), 40), "#444444", "#eeeeee")


def mark_label(verdict: str | None) -> str:
    """The text of the badge as drawn, e.g. "✔ validated"."""
    mark = verdict_mark(verdict)
    return f"{mark.symbol} {mark.text}"


def _thumbnail(path: Path, size: int) -> np.ndarray:
    from PIL import Image as PILImage

    with PILImage.open(path) as img:
        img = img.convert("RGB")
        img.thumbnail((size, size))
        canvas = PILImage.new("RGB", (size, size), (255, 255, 255))
        canvas.paste(img, ((size - img.width) // 2, (size - img.height) // 2))
        return np.asarray(canvas)


# matplotlib is not thread-safe: figures are built and rasterised under this lock, while pasting
# thumbnails and encoding PNGs (the larger share of the work, and GIL-free in PIL) run in parallel.
_MPL_LOCK = threading.Lock()


def _rasterise(build: Callable[[], Any]) -> np.ndarray:
    """RGB pixels of the figure `build()` returns, rendered with Agg."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    with _MPL_LOCK, warnings.catch_warnings():
        # A crowd label in a script the font lacks draws boxes; a warning per glyph would flood
        # the rebuild's log.
        warnings.filterwarnings("ignore", message="Glyph .* missing from", category=UserWarning)
        canvas = FigureCanvasAgg(build())
        canvas.draw()
        return np.array(canvas.buffer_rgba())[..., :3]


def _write_png(path: Path, pixels: np.ndarray) -> None:
    from PIL import Image as PILImage

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    PILImage.fromarray(pixels).save(tmp, format="PNG", compress_level=PNG_COMPRESSION)
    tmp.replace(path)


def draw_layer_panel(path: Path, title: str, subtitle: str, rows: Sequence[PanelRow]) -> None:
    """One class at one layer: a row per concept with up to three example overlays."""
    from matplotlib.figure import Figure

    row_height = CAPTION + THUMB + ROW_GAP
    height = HEADER + max(len(rows), 1) * row_height + MARGIN
    # The figure holds the text; the thumbnails are pasted into its pixels afterwards, which is
    # far cheaper than compositing images through matplotlib.

    def build() -> Any:
        fig = Figure(figsize=(WIDTH / DPI, height / DPI), dpi=DPI, facecolor="white")

        def text(x: float, y: float, s: str, **kw: Any) -> None:
            fig.text(
                x / WIDTH, 1 - y / height, plain(s), va="top", ha="left", parse_math=False, **kw
            )

        text(MARGIN, 18, title, fontsize=22, fontweight="bold")
        text(MARGIN, 56, subtitle, fontsize=14, color="#444444")
        if not rows:
            text(MARGIN, HEADER + 10, "no concepts yet", fontsize=16, color="#666666")
        else:  # what the badges say, once per panel
            text(MARGIN, 80, LEGEND, fontsize=11, color="#666666")
        for r, row in enumerate(rows):
            y = HEADER + r * row_height
            text(MARGIN, y + 4, f"{r + 1}. {row.name}", fontsize=20, fontweight="bold")
            details = (
                f"weight = {row.weight:.2f}%   score = {row.score:.2f}   clusters = {row.clusters}"
            )
            text(MARGIN, y + 36, details, fontsize=13, color="#333333")
            mark = verdict_mark(row.verdict)
            # Right-aligned on the details line, where the longest details leave room for it.
            fig.text(
                (WIDTH - MARGIN - 4) / WIDTH,
                1 - (y + 36) / height,
                mark_label(row.verdict),
                va="top",
                ha="right",
                parse_math=False,
                fontsize=13,
                fontweight="bold",
                color=mark.colour,
                bbox={
                    "boxstyle": "round,pad=0.3",
                    "facecolor": mark.fill,
                    "edgecolor": mark.colour,
                    "linewidth": 1.2,
                },
            )
        return fig

    pixels = _rasterise(build)
    for r, row in enumerate(rows):
        top = HEADER + r * row_height + CAPTION
        for t, thumb_path in enumerate(row.thumbnails[:THUMBS_PER_ROW]):
            left = MARGIN + t * (THUMB + GAP)
            pixels[top : top + THUMB, left : left + THUMB] = _thumbnail(thumb_path, THUMB)
    _write_png(path, pixels)


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

    # Only the groups that have lines get a panel, and every panel's score axis starts at 0 and
    # shares one top, so two charts are compared by their lines, not by their axes.
    panels = [
        (lines, heading)
        for lines, heading in (
            (rising, "rising with depth (slope per layer)"),
            (falling, "fading with depth (slope per layer)"),
        )
        if lines
    ]
    values = [m for lines, _ in panels for line in lines for m in line.means if m is not None]
    top = max([*values, 0.0]) * 1.1 or 1.0

    def build() -> Any:
        fig = Figure(figsize=(WIDTH / DPI, 6.5 * max(1, len(panels))), dpi=DPI)
        axes = fig.subplots(max(1, len(panels)), 1, squeeze=False)[:, 0]
        fig.suptitle(
            plain(title), fontsize=20, fontweight="bold", x=0.03, ha="left", parse_math=False
        )
        x = np.arange(len(layer_labels))
        for ax, (lines, heading) in zip(axes, panels, strict=False):
            ax.set_title(heading, fontsize=16, loc="left", parse_math=False)
            for line in lines:
                y = np.array([np.nan if m is None else m for m in line.means], dtype=np.float64)
                ax.plot(
                    x,
                    y,
                    marker="o",
                    linewidth=2.5,
                    markersize=6,
                    label=f"{plain(line.name, 60)} ({line.slope:+.2f})",
                )
            ax.set_ylim(0.0, top)
            ax.set_xticks(x)
            ax.set_xticklabels(
                [plain(label, 60) for label in layer_labels],
                rotation=35,
                ha="right",
                fontsize=12,
                parse_math=False,
            )
            ax.tick_params(axis="y", labelsize=12)
            ax.set_ylabel("mean score per image", fontsize=13)
            ax.grid(alpha=0.3)
            legend = ax.legend(
                fontsize=12,
                loc="upper left",
                bbox_to_anchor=(0.0, -0.28),
                ncol=2,
                frameon=False,
            )
            for entry in legend.get_texts():  # legend labels take no parse_math argument
                entry.set_parse_math(False)
        # Margins in inches (title above; rotated layer names and the legend below each panel).
        height = 6.5 * max(1, len(panels))
        fig.subplots_adjust(
            left=0.1, right=0.97, top=1 - 0.9 / height, bottom=1.9 / height, hspace=0.95
        )
        return fig

    _write_png(path, _rasterise(build))
