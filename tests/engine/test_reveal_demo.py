"""The reveal over every cluster of the demo photos: each level lights its share, every layer size,
and a hint never dims what the previous one showed (the figures `benchmarks/reveal.py` prints)."""

from __future__ import annotations

import pytest

from benchmarks.reveal import demo_maps, measure, table
from engine.render import DISPLAY_SIDE, HINT_LEVELS


@pytest.mark.slow
def test_every_demo_cluster_lights_each_level_within_a_quarter_and_never_dims() -> None:
    maps = demo_maps()
    assert len({m.image for m in maps}) >= 9
    # The game serves at least 9 of them, with or without Debian's darknet photos.
    served = {m.image for m in maps if m.served and not m.source.startswith("darknet")}
    assert len(served) >= 9, sorted(served)
    figures = measure(maps, DISPLAY_SIDE)
    shapes = {layer.shape for layer in figures.values()}
    assert (7, 7) in shapes and len(shapes) >= 3, shapes
    report = table(figures)
    for name, layer in figures.items():
        assert layer.off_level == 0, f"{name}: a level strays over 25% from its share\n{report}"
        assert layer.darker_steps == 0, f"{name}: a hint dims what was shown\n{report}"
        for level, q in enumerate(HINT_LEVELS):
            assert all(abs(lit - q) <= 0.25 * q for lit in layer.lit[level]), name
