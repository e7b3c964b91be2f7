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
    source: str = ""  # the package the photo comes from
    served: bool = False  # whether the game serves the photo (bot.serving's rule)


def demo_maps(limit: int | None = None) -> list[DemoMap]:
    """Every cluster map of the demo photos, explained with the configured model (no database)."""
    import torch

    from bot.serving import is_servable
    from engine.classifiers import load_model
    from engine.config import ExplainConfig
    from engine.explainer import Explainer
    from engine.image_folder import class_index_for_folder
    from engine.images import load_rgb
    from inv.demo.images import available_photos, gather_demo_images
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
    sources = {photo.name: photo.source for photo in available_photos()}
    maps: list[DemoMap] = []
    with tempfile.TemporaryDirectory() as folder:
        for path in gather_demo_images(Path(folder), limit):
            crop = loaded.preprocess.crop(load_rgb(path, target_side=loaded.preprocess.resize_size))
            (explained,) = explainer.explain(
                torch.from_numpy(loaded.preprocess.normalise(crop)[None])
            )
            true_class = (
                class_index_for_folder(path.parent.name, loaded.classes)
                if path.parent != Path(folder)
                else None
            )
            predicted = explained.predicted
            served = is_servable(
                predicted=predicted,
                explained=explained.target,
                probability=float(explained.probabilities[predicted]),
                true_class=true_class,
                min_confidence=settings.min_confidence,
            )
            for layer in explained.layers.values():
                for rank, cluster in enumerate(layer.clusters):
                    maps.append(
                        DemoMap(
                            path.stem, layer.name, rank, cluster.map, sources[path.stem], served
                        )
                    )
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


def render_cost(maps: list[DemoMap], rounds: int = 3) -> tuple[float, float]:
    """Median seconds to render one challenge, and to JPEG-encode the same photo unmasked (the
    reference measured in the same run: the reveal should cost a small multiple of it)."""
    import io
    import time

    from PIL import Image

    from engine.render import render_challenge

    crop = np.random.default_rng(1).integers(0, 255, (224, 224, 3), dtype=np.uint8)
    picture = Image.fromarray(crop).resize((DISPLAY_SIDE, DISPLAY_SIDE))
    render, encode = [], []
    for item in maps[: rounds * 6]:
        for level in range(len(HINT_LEVELS)):
            start = time.perf_counter()
            render_challenge(crop, item.values, level)
            render.append(time.perf_counter() - start)
            start = time.perf_counter()
            picture.save(io.BytesIO(), format="JPEG", quality=85)
            encode.append(time.perf_counter() - start)
    return float(np.median(render)), float(np.median(encode))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--side", type=int, default=DISPLAY_SIDE, help="picture side in pixels")
    parser.add_argument("--images", type=int, default=None, help="use only the first N photos")
    args = parser.parse_args(argv)
    maps = demo_maps(args.images)
    figures = measure(maps, args.side)
    print(f"{len(maps)} clusters of {len({m.image for m in maps})} demo photos at {args.side} px")
    served = {m.image for m in maps if m.served}
    without = {m.image for m in maps if m.served and not m.source.startswith("darknet")}
    print(f"photos served: {len(served)} ({len(without)} without Debian's darknet photos)")
    print(table(figures))
    render, encode = render_cost(maps)
    print(
        f"render one challenge: {render * 1000:.1f} ms median, {render / encode:.1f}x the JPEG "
        f"encoding of the same photo ({encode * 1000:.1f} ms) measured in the same run"
    )
    broken = sum(f.off_level + f.darker_steps for f in figures.values())
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
