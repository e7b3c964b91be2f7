"""How much of the picture each hint level reveals, per layer, over every cluster of the demo photos.

    python -m benchmarks.reveal [--side 512] [--images N]

The demo photos (those installed packages ship) are explained with the configured MODEL, and
every cluster map is turned into the game's reveal mask at every hint level. For each layer the
table prints, per level, the mean lit share (pixels at half brightness or more, in % of the
picture), its range, and the mean brightness of the mask (in %). The last columns count clusters
whose lit share strays more than 25% from the level, and steps where a pixel was shown less
brightly at the next hint. Both must be zero.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.render import DISPLAY_SIDE, HINT_LEVELS, lit_share, reveal_mask

TOLERANCE = 0.25  # the lit share at level q stays within q·(1 ± 25%)


@dataclass(frozen=True)
class DemoMap:
    image: str
    layer: str
    rank: int
    values: np.ndarray  # float32 [h, w] in [0, 1]


def demo_maps(limit: int | None = None) -> list[DemoMap]:
    """Every cluster map of the demo photos, explained with the configured model (no database)."""
    import torch

    from engine.classifiers import load_model
    from engine.config import ExplainConfig
    from engine.explainer import Explainer
    from engine.images import load_rgb
    from inv.demo.images import gather_demo_images
    from inv.settings import get_settings

    settings = get_settings()
    loaded = load_model(settings.model, settings.weights, None)
    explainer = Explainer(
        loaded.module,
        list(settings.layers or loaded.default_layers or []) or None,
        ExplainConfig(reduction=settings.reduction),
        device="cpu",
        input_size=loaded.preprocess.crop_size,
    )
    maps: list[DemoMap] = []
    with tempfile.TemporaryDirectory() as folder:
        for path in gather_demo_images(Path(folder), limit):
            crop = loaded.preprocess.crop(load_rgb(path, target_side=loaded.preprocess.resize_size))
            (explained,) = explainer.explain(
                torch.from_numpy(loaded.preprocess.normalise(crop)[None])
            )
            for layer in explained.layers.values():
                for rank, cluster in enumerate(layer.clusters):
                    maps.append(DemoMap(path.stem, layer.name, rank, cluster.map))
    return maps


@dataclass
class LayerFigures:
    shape: tuple[int, int]
    lit: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    brightness: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    off_level: int = 0  # (cluster, level) pairs outside the tolerance
    darker_steps: int = 0  # (cluster, step) pairs where some pixel got darker


def measure(maps: list[DemoMap], side: int = DISPLAY_SIDE) -> dict[str, LayerFigures]:
    """Per layer: lit shares and brightness per level, and the rule breaks."""
    figures: dict[str, LayerFigures] = {}
    for item in maps:
        layer = figures.setdefault(item.layer, LayerFigures(tuple(item.values.shape)))
        previous: np.ndarray | None = None
        for level, q in enumerate(HINT_LEVELS):
            mask = np.asarray(reveal_mask(item.values, (side, side), level))
            lit = lit_share(mask)
            layer.lit[level].append(lit)
            layer.brightness[level].append(float(mask.mean() / 255 * 100))
            if abs(lit - q) > TOLERANCE * q:
                layer.off_level += 1
            if previous is not None and bool((mask < previous).any()):
                layer.darker_steps += 1
            previous = mask
    return figures


def table(figures: dict[str, LayerFigures]) -> str:
    head = "layer        map    " + "".join(f"{q:>17g}%" for q in HINT_LEVELS)
    lines = [
        "lit share % mean [min-max] / mean brightness % per hint level",
        head + "   off  darker",
    ]
    for name, layer in figures.items():
        cells = []
        for level in range(len(HINT_LEVELS)):
            lit = np.asarray(layer.lit[level])
            bright = float(np.mean(layer.brightness[level]))
            cells.append(f"{lit.mean():5.1f}[{lit.min():4.1f}-{lit.max():4.1f}]/{bright:4.1f}")
        shape = f"{layer.shape[0]}x{layer.shape[1]}"
        n = len(layer.lit[0])
        lines.append(
            f"{name:<12} {shape:<6} "
            + " ".join(f"{c:>18}" for c in cells)
            + f" {layer.off_level:>5} {layer.darker_steps:>7}   ({n} clusters)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--side", type=int, default=DISPLAY_SIDE, help="picture side in pixels")
    parser.add_argument("--images", type=int, default=None, help="use only the first N photos")
    args = parser.parse_args(argv)
    maps = demo_maps(args.images)
    figures = measure(maps, args.side)
    print(f"{len(maps)} clusters of {len({m.image for m in maps})} demo photos at {args.side} px")
    print(table(figures))
    broken = sum(f.off_level + f.darker_steps for f in figures.values())
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
