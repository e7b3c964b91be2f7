"""The PNG panels and trend charts: sizes for a phone, thumbnails in place, drawable from threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from engine.global_explanations.charts import (
    CAPTION,
    HEADER,
    MARGIN,
    THUMB,
    WIDTH,
    PanelRow,
    TrendLine,
    draw_layer_panel,
    draw_trend_chart,
)
from engine.global_explanations.overlays import OVERLAY_SIDE, merged_map


def _overlay(path: Path, colour: tuple[int, int, int]) -> Path:
    PILImage.new("RGB", (OVERLAY_SIDE, OVERLAY_SIDE), colour).save(path, quality=95)
    return path


def test_panel_layout(tmp_path: Path) -> None:
    assert THUMB == OVERLAY_SIDE  # overlays are drawn at the thumbnail size: no resampling
    red = _overlay(tmp_path / "red.jpg", (220, 20, 20))
    blue = _overlay(tmp_path / "blue.jpg", (20, 20, 220))
    rows = [
        PanelRow("wheel", 12.5, 3.25, 4, [red, blue, red]),
        PanelRow("sky", 8.0, 1.5, 2, [blue]),
    ]
    out = tmp_path / "panel.png"
    draw_layer_panel(out, "truck · features.29", "layer 9 of 9 · 3 images", rows)
    with PILImage.open(out) as img:
        assert img.format == "PNG" and img.width == WIDTH
        pixels = np.asarray(img.convert("RGB")).astype(int)
    top = HEADER + CAPTION
    centre = top + THUMB // 2
    assert np.abs(pixels[centre, MARGIN + THUMB // 2] - (220, 20, 20)).max() < 12
    assert np.abs(pixels[centre, MARGIN + THUMB + 12 + THUMB // 2] - (20, 20, 220)).max() < 12
    # The captions are drawn: dark text pixels above the first row's thumbnails.
    assert (pixels[HEADER : HEADER + CAPTION, MARGIN : MARGIN + 200] < 100).any()
    # The second row has one thumbnail; the rest of it stays white.
    second = top + (CAPTION + THUMB + 22) + THUMB // 2
    assert (pixels[second, MARGIN + 2 * (THUMB + 12) + THUMB // 2] == 255).all()


def test_charts_can_be_drawn_from_threads(tmp_path: Path) -> None:
    overlay = _overlay(tmp_path / "o.jpg", (10, 200, 10))
    lines = [TrendLine("ear", [0.1, None, 0.9], 0.4), TrendLine("tail", [0.0, 0.2, 0.5], 0.25)]

    def draw(i: int) -> Path:
        path = tmp_path / f"c{i}.png"
        if i % 2:
            draw_trend_chart(path, "dog", ["a", "b", "c"], lines, [])
        else:
            draw_layer_panel(path, "dog", f"panel {i}", [PanelRow("ear", 1.0, 1.0, 1, [overlay])])
        return path

    with ThreadPoolExecutor(4) as pool:
        paths = list(pool.map(draw, range(8)))
    for path in paths:
        with PILImage.open(path) as img:
            assert img.width == WIDTH and img.height > 300


def test_merged_map_is_the_weighted_mean() -> None:
    a = np.zeros((4, 4), dtype=np.float32)
    b = np.ones((4, 4), dtype=np.float32)
    b[0, 0] = 0.0
    merged = merged_map([a, b], [3.0, 1.0])
    # (3·a + 1·b)/4 = 0.25 except the corner, then min-max normalised to [0, 1].
    assert merged[0, 0] == 0.0 and np.allclose(merged[1:, :], 1.0)


def test_trend_chart_draws_only_the_groups_it_has(tmp_path: Path) -> None:
    lines = [TrendLine("ear", [0.8, None, 0.9], 0.05)]
    both, rising_only = tmp_path / "both.png", tmp_path / "rising.png"
    draw_trend_chart(
        both, "dog", ["a", "b", "c"], lines, [TrendLine("grass", [1.0, 0.2, None], -0.8)]
    )
    draw_trend_chart(rising_only, "dog", ["a", "b", "c"], lines, [])
    with PILImage.open(both) as two, PILImage.open(rising_only) as one:
        # No empty "fading: none" panel: one group takes half the height of two.
        assert one.height * 2 == two.height
