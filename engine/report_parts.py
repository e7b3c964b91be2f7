"""HTML and SVG pieces of the report: trend charts, score bars, the colour bar, the reading guide.

Text stays text (HTML or SVG `<text>`), so it reflows on a phone and can be searched and copied;
the charts are drawn on one stated scale, and a layer without data is a gap, never a zero.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# Colour-blind-friendly categorical colours (Okabe–Ito), one per trend line.
LINE_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
# The jet colormap of the overlays, as CSS gradient stops (position, colour).
JET_STOPS = (
    (0, "#00007f"),
    (11, "#0000ff"),
    (36, "#00ffff"),
    (62, "#ffff00"),
    (89, "#ff0000"),
    (100, "#7f0000"),
)


@dataclass(frozen=True)
class Line:
    name: str
    means: list[float | None]  # per layer; None = no data at that layer
    slope: float | None


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k that is at least `value` (1 for nothing to show)."""
    if not value or value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value - 1e-12:
            return step * power
    return 10 * power


def _fmt(value: float) -> str:
    return f"{value:g}"


def trend_svg(layer_labels: Sequence[str], lines: Sequence[Line], scale: float) -> str:
    """Mean score per layer as an SVG line chart on a 0–`scale` axis; gaps where None.

    The SVG scales to its container's width (viewBox), so it fits a phone and a wide screen.
    """
    # About a phone's width, so that 13-unit text stays 12 px tall on a 400 px screen.
    width, height = 400, 230
    left, right, top, bottom = 46, 10, 10, 52
    plot_w, plot_h = width - left - right, height - top - bottom
    n = max(1, len(layer_labels))

    def x(i: int) -> float:
        return left + (plot_w * (i + 0.5) / n)

    def y(value: float) -> float:
        return top + plot_h * (1 - min(max(value / scale, 0.0), 1.0))

    parts = [
        f'<svg class="trend" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="mean score per layer, scale 0 to {_fmt(scale)}">'
    ]
    for k in range(5):
        value = scale * k / 4
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            f'stroke="#ddd"/><text x="{left - 6}" y="{y(value) + 4:.1f}" text-anchor="end" '
            f'font-size="13">{_fmt(round(value, 4))}</text>'
        )
    parts.append(
        f'<text x="12" y="{top + plot_h / 2:.1f}" font-size="13" text-anchor="middle" '
        f'transform="rotate(-90 12 {top + plot_h / 2:.1f})">mean score per image</text>'
    )
    for i, label in enumerate(layer_labels):
        parts.append(
            f'<text x="{x(i):.1f}" y="{height - bottom + 16}" font-size="13" '
            f'text-anchor="middle">{i + 1}</text>'
        )
        del label  # layer names can be long: the legend under the chart spells them out
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 8}" font-size="13" '
        'text-anchor="middle">layer (1 = shallowest)</text>'
    )
    for index, line in enumerate(lines):
        colour = LINE_COLOURS[index % len(LINE_COLOURS)]
        segment: list[str] = []
        segments: list[list[str]] = []
        for i, mean in enumerate(line.means):
            if mean is None:  # no data: end the segment, leave a gap
                if segment:
                    segments.append(segment)
                segment = []
                continue
            segment.append(f"{x(i):.1f},{y(mean):.1f}")
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y(mean):.1f}" r="4" fill="{colour}">'
                f"<title>{html.escape(line.name)}: {mean:.2f} at layer {i + 1}</title></circle>"
            )
        if segment:
            segments.append(segment)
        for points in segments:
            if len(points) > 1:
                parts.append(
                    f'<polyline fill="none" stroke="{colour}" stroke-width="2.5" '
                    f'points="{" ".join(points)}"/>'
                )
    parts.append("</svg>")
    return "".join(parts)


def trend_legend(lines: Sequence[Line], offset: int = 0) -> str:
    items = []
    for index, line in enumerate(lines, start=offset):
        colour = LINE_COLOURS[index % len(LINE_COLOURS)]
        slope = "" if line.slope is None else f" ({line.slope:+.2f} per layer)"
        items.append(
            f'<li><span class="swatch" style="background:{colour}"></span>'
            f"{html.escape(line.name)}{slope}</li>"
        )
    return f'<ul class="legend">{"".join(items)}</ul>'


def score_bar(score: float, scale: float) -> str:
    """The score as a number and a bar on the report's stated scale."""
    percent = 100 * min(max(score / scale, 0.0), 1.0) if scale > 0 else 0.0
    return (
        f'<span class="bar" title="{score:.2f} of {_fmt(scale)}">'
        f'<span style="width:{percent:.0f}%"></span></span> {score:.2f}'
    )


def concept_test_cell(test: dict[str, Any] | None) -> str:
    """The network's verdict on a concept (TCAV), said plainly; no mark means not tested."""
    if not test:
        return "<i>not tested</i>"
    verdict = html.escape(str(test.get("verdict", "")))
    examples = int(test.get("examples", 0))
    if test.get("score") is None:
        if test.get("reason") == "class images":  # engine.tcav.FEW_CLASS_IMAGES
            return f"{verdict} ({int(test.get('images') or 0)} class images)"
        return f"{verdict} ({examples})"
    return (
        f"{verdict} (TCAV {float(test['score']):.2f}, p {float(test['p_value']):.3g}, "
        f"{examples} examples)"
    )


def colour_bar() -> str:
    stops = ", ".join(f"{colour} {position}%" for position, colour in JET_STOPS)
    return (
        '<div class="colourbar"><span>low</span>'
        f'<span class="gradient" style="background:linear-gradient(to right, {stops})"></span>'
        "<span>high</span></div>"
    )


def reading_guide(score_scale: float) -> str:
    """The short 'how to read this' section."""
    return (
        '<section id="guide"><h2>How to read this</h2>'
        "<p>The network looks at a photo layer by layer, shallow to deep. At each layer inv "
        "groups the feature maps that matter for the explained class into <b>clusters</b>; "
        "players see one cluster at a time, guess the class and name what they see.</p>"
        "<dl>"
        "<dt>Heat maps</dt><dd>A cluster's map over the photo: where that cluster responds. "
        f"{colour_bar()}</dd>"
        "<dt>w (weight)</dt><dd>The share of the layer's importance for the class that the "
        "cluster carries, in percent; the clusters of a layer add up to the kept share.</dd>"
        "<dt>score</dt><dd>How strongly players agree on a concept: each label counts with the "
        "trust of the player who gave it (0 to 1, from gold challenges), summed over the "
        "clusters whose best concept it is. A number in brackets after a concept, as in "
        "<i>ear (2.5)</i>, is that score summed over all layers.</dd>"
        "<dt>mean weight</dt><dd>The average weight (%) of the clusters showing the concept.</dd>"
        "<dt>Trend charts</dt><dd>The mean score per image of a concept at each layer. Every "
        f"chart and score bar uses the same scale, 0 to {_fmt(score_scale)}. A missing point is "
        "a layer where nobody named the concept: no data, not zero. The slope (per layer) is "
        "fitted over the layers with data only.</dd>"
        "<dt>network test</dt><dd>Whether the network itself uses the concept for the class "
        "(TCAV): a direction for the concept is learnt from the layer's activations where "
        "players saw it, and the score is the share of the class's photos whose class score "
        "grows along it. <i>validated</i>: significantly above random directions; <i>not "
        "significant</i>: not distinguishable from them; <i>too few examples</i>: fewer "
        "clusters carry the concept than the test needs (their number in brackets), or its "
        "class has fewer photos to score it (<i>class images</i>), so no verdict is given.</dd>"
        "</dl></section>"
    )
