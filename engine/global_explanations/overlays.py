"""Merged heatmaps and example overlays for global explanations.

The heatmap of a merged cluster is the weight-averaged map of its members; it
is written once with `engine.render.encode_map` under `DATA_DIR/charts/merged/`. Example overlays
are rendered by `engine.render.render_overlay` into `DATA_DIR/charts/overlays/`. Both are named
after the image and the member clusters, and cluster maps never change once written, so a rebuild
only renders what no earlier rebuild has.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

OVERLAY_DIR = "charts/overlays"
MERGED_DIR = "charts/merged"
OVERLAY_SIDE = 224  # px: the chart thumbnails' size (and the usual crop size: no resampling)


def merged_map(maps: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """Σ w·map / Σ w over maps of one layer of one image, min-max normalised to [0, 1]."""
    if not maps:
        raise ValueError("no maps to merge")
    w = np.asarray(weights, dtype=np.float64)
    if w.sum() <= 0:
        w = np.ones_like(w)
    shape = maps[0].shape
    stack = np.stack([_fit(np.asarray(m, dtype=np.float32), shape) for m in maps])
    merged = np.tensordot(w / w.sum(), stack, axes=1).astype(np.float32)
    lo, hi = float(merged.min()), float(merged.max())
    return (merged - lo) / (hi - lo) if hi > lo else np.zeros_like(merged)


def _fit(m: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Maps of one layer share a shape; resize defensively if one does not."""
    if m.shape == shape:
        return m
    from PIL import Image as PILImage

    img = PILImage.fromarray(m.astype(np.float32), mode="F").resize((shape[1], shape[0]))
    return np.asarray(img, dtype=np.float32)


def _key(image_id: int, member_ids: Sequence[int]) -> str:
    digest = hashlib.sha1(",".join(str(i) for i in sorted(member_ids)).encode()).hexdigest()[:12]
    return f"img{image_id}-{digest}"


def _write(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(target)


def merged_map_file(
    data_dir: Path,
    image_id: int,
    member_ids: Sequence[int],
    map_files: Sequence[str],
    weights: Sequence[float],
) -> str:
    """The weight-averaged map of several clusters as a map file (relative to DATA_DIR)."""
    relative = f"{MERGED_DIR}/{_key(image_id, member_ids)}.png"
    if not (data_dir / relative).is_file():
        from engine.render import encode_map, load_map

        heat = merged_map([load_map(data_dir / f) for f in map_files], weights)
        _write(data_dir / relative, encode_map(heat))
    return relative


@lru_cache(maxsize=64)
def _crop(path: str) -> np.ndarray:
    from PIL import Image as PILImage

    with PILImage.open(path) as img:
        return np.asarray(img.convert("RGB"))


def example_overlay(
    data_dir: Path, image_id: int, crop_file: str, member_ids: Sequence[int], map_file: str
) -> str:
    """The overlay picture of a (merged) cluster, relative to DATA_DIR; rendered if missing."""
    relative = f"{OVERLAY_DIR}/{_key(image_id, member_ids)}.jpg"
    if not (data_dir / relative).is_file():
        from engine.render import load_map, render_overlay

        heat = load_map(data_dir / map_file)
        crop = _crop(str(data_dir / crop_file))
        try:
            data = render_overlay(crop, heat, side=OVERLAY_SIDE)
        except TypeError:  # a renderer without the optional size argument
            data = render_overlay(crop, heat)
        _write(data_dir / relative, data)
    return relative
