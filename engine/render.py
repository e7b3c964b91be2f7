"""Cluster maps on disk and the pictures players see (numpy, PIL and scipy only; never torch).

- `encode_map` / `load_map`: a cluster map in [0, 1] as a 16-bit grayscale PNG (lossless to
  1/65535, compressed, viewable anywhere) at its native resolution.
- `render_challenge(crop, cluster_map, hint_level)`: the image black except the top q % of the
  cluster map (q = HINT_LEVELS[hint_level]), through a blurred mask (PAPER-NOTES §2.1): the map is
  upsampled nearest-neighbour to the picture, thresholded at its (100 − q)-th percentile, and the
  mask blurred with a σ that grows with the upsampling factor.
- `render_overlay(crop, cluster_map)`: the map in the jet colormap blended 50/50 over the image.
Both return JPEG bytes with sides ≤ 1280 px (Telegram's photo limits) and take a few
milliseconds, so the bot can render per request in a worker thread.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

HINT_LEVELS: tuple[float, ...] = (2, 4.5, 8, 13, 20, 30)
DISPLAY_SIDE = 512  # the game's picture size in the paper
MAX_SIDE = 1280  # Telegram photo limit
JPEG_QUALITY = 90
OVERLAY_ALPHA = 0.5

# PAPER-NOTES §2.1: mask blur σ for upsampling factors 2, 4, 8, 16, 32 (at 512 px). Other factors
# are interpolated on log2(factor) and extrapolated with the end slopes (1.5·f below 2, 0.75·f
# above 32), so a 7×7 map upsampled ×73 is blurred in proportion instead of with the default σ=3.
_BLUR_FACTORS = np.array([2.0, 4.0, 8.0, 16.0, 32.0])
_BLUR_SIGMAS = np.array([3.0, 6.0, 12.0, 16.0, 24.0])

# matplotlib's "jet" segment data, so that overlays match the paper's colours without importing
# matplotlib (slow to import in the bot).
_JET = {
    "red": ((0.0, 0.0), (0.35, 0.0), (0.66, 1.0), (0.89, 1.0), (1.0, 0.5)),
    "green": ((0.0, 0.0), (0.125, 0.0), (0.375, 1.0), (0.64, 1.0), (0.91, 0.0), (1.0, 0.0)),
    "blue": ((0.0, 0.5), (0.11, 1.0), (0.34, 1.0), (0.65, 0.0), (1.0, 0.0)),
}


def _jet_lut() -> np.ndarray:
    x = np.linspace(0.0, 1.0, 256)
    channels = []
    for name in ("red", "green", "blue"):
        points = np.array(_JET[name])
        channels.append(np.interp(x, points[:, 0], points[:, 1]))
    return np.round(np.stack(channels, axis=1) * 255).astype(np.uint8)


JET_LUT = _jet_lut()  # [256, 3] uint8


def jet(values: np.ndarray) -> np.ndarray:
    """uint8 RGB [..., 3] of values in [0, 1] in the jet colormap."""
    index = np.clip(np.round(np.asarray(values, dtype=np.float64) * 255), 0, 255).astype(np.uint8)
    return JET_LUT[index]


# ---- map files -------------------------------------------------------------------------------


def encode_map(cluster_map: np.ndarray) -> bytes:
    """A map in [0, 1] as 16-bit grayscale PNG bytes."""
    values = np.clip(np.nan_to_num(np.asarray(cluster_map, dtype=np.float64)), 0.0, 1.0)
    image = Image.fromarray(np.round(values * 65535).astype(np.uint16))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=6)
    return buffer.getvalue()


def load_map(path: str | Path) -> np.ndarray:
    """float32 [h, w] in [0, 1] from a map file written by precompute (16-bit PNG; 8-bit or .npy too)."""
    path = Path(path)
    if path.suffix == ".npy":
        values = np.load(path, allow_pickle=False)
        if values.dtype == np.uint8:
            return values.astype(np.float32) / 255.0
        return np.clip(values.astype(np.float32), 0.0, 1.0)
    with Image.open(path) as image:
        values = np.asarray(image)
    scale = 65535.0 if values.dtype == np.uint16 or values.max(initial=0) > 255 else 255.0
    return (values.astype(np.float32) / scale).clip(0.0, 1.0)


# ---- rendering -----------------------------------------------------------------------------


def _as_image(crop: Image.Image | np.ndarray) -> Image.Image:
    if isinstance(crop, Image.Image):
        return crop if crop.mode == "RGB" else crop.convert("RGB")
    array = np.asarray(crop)
    if array.dtype != np.uint8:
        array = np.clip(
            np.round(array.astype(np.float64) * (255.0 if array.max() <= 1.0 else 1.0)), 0, 255
        )
        array = array.astype(np.uint8)
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    return Image.fromarray(array[..., :3], mode="RGB")


def _display(crop: Image.Image | np.ndarray, side: int) -> Image.Image:
    image = _as_image(crop)
    side = min(int(side), MAX_SIDE)
    scale = side / max(image.size)
    size = (max(1, round(image.size[0] * scale)), max(1, round(image.size[1] * scale)))
    return image if size == image.size else image.resize(size, Image.Resampling.BICUBIC)


def _map_image(
    cluster_map: np.ndarray, size: tuple[int, int], resample: Image.Resampling
) -> np.ndarray:
    values = np.asarray(cluster_map, dtype=np.float32)
    if values.ndim != 2:
        raise ValueError(f"a cluster map is 2-D, got shape {values.shape}")
    return np.asarray(Image.fromarray(values, mode="F").resize(size, resample), dtype=np.float32)


def blur_sigma(factor: float) -> float:
    """Mask blur σ (pixels) for a map upsampled by `factor` (PAPER-NOTES §2.1's table, extended)."""
    if factor <= _BLUR_FACTORS[0]:
        return float(1.5 * factor)
    if factor >= _BLUR_FACTORS[-1]:
        return float(0.75 * factor)
    return float(np.interp(np.log2(factor), np.log2(_BLUR_FACTORS), _BLUR_SIGMAS))


def reveal_mask(cluster_map: np.ndarray, size: tuple[int, int], hint_level: int) -> Image.Image:
    """The blurred 8-bit mask (255 = visible) of the top q % of the upsampled map."""
    if not 0 <= hint_level < len(HINT_LEVELS):
        raise ValueError(f"hint_level must be in 0..{len(HINT_LEVELS) - 1}")
    upsampled = _map_image(cluster_map, size, Image.Resampling.NEAREST)
    threshold = np.percentile(upsampled, 100.0 - HINT_LEVELS[hint_level])
    mask = Image.fromarray(((upsampled >= threshold) * 255).astype(np.uint8), mode="L")
    factor = float(np.mean([size[0] / cluster_map.shape[1], size[1] / cluster_map.shape[0]]))
    blurred = mask.filter(ImageFilter.GaussianBlur(blur_sigma(factor)))
    # A small region blurred with a large σ would only ever be half visible (one 73-px cell of a
    # 7×7 map with σ = 55 peaks at a quarter of full brightness); rescaling to the blurred peak
    # keeps the soft edge and shows the revealed part at full brightness.
    peak = blurred.getextrema()[1]
    if 0 < peak < 255:
        blurred = blurred.point(lambda v: min(255, round(v * 255 / peak)))
    return blurred


def _jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, optimize=False)
    return buffer.getvalue()


def render_challenge(
    crop: Image.Image | np.ndarray,
    cluster_map: np.ndarray,
    hint_level: int,
    *,
    side: int = DISPLAY_SIDE,
    quality: int = JPEG_QUALITY,
) -> bytes:
    """JPEG bytes: the crop (longest side `side`) black except the top q % of the map."""
    image = _display(crop, side)
    mask = reveal_mask(np.asarray(cluster_map), image.size, hint_level)
    black = Image.new("RGB", image.size, (0, 0, 0))
    return _jpeg(Image.composite(image, black, mask), quality)


def render_overlay(
    crop: Image.Image | np.ndarray,
    cluster_map: np.ndarray,
    *,
    side: int = DISPLAY_SIDE,
    alpha: float = OVERLAY_ALPHA,
    quality: int = JPEG_QUALITY,
) -> bytes:
    """JPEG bytes: the map (bilinear, lightly smoothed) in jet, blended over the crop."""
    image = _display(crop, side)
    smooth = _map_image(np.asarray(cluster_map), image.size, Image.Resampling.BILINEAR)
    lo, hi = float(smooth.min()), float(smooth.max())
    index = np.round((smooth - lo) / (hi - lo) * 255) if hi > lo else np.zeros_like(smooth)
    heat = Image.fromarray(index.astype(np.uint8), mode="L")
    # The smoothing the paper intended (σ = 1 px at 256 px), scaled to the display size.
    heat = heat.filter(ImageFilter.GaussianBlur(max(image.size) / 256.0))
    heat.putpalette(JET_LUT.tobytes())
    return _jpeg(Image.blend(image, heat.convert("RGB"), alpha), quality)
