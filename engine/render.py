"""Cluster maps on disk and the pictures players see (numpy, PIL and scipy only; never torch).

- `encode_map` / `load_map`: a cluster map in [0, 1] as a 16-bit grayscale PNG (lossless to
  1/65535, compressed, viewable anywhere) at its native resolution.
- `render_challenge(crop, cluster_map, hint_level)`: the image black except the top q % of the
  cluster map (q = HINT_LEVELS[hint_level]): the map's highest cells, tiled over the picture,
  until q % of the picture is lit, with a soft edge of 0.15 cell. Every hint shows
  at least what the previous one did.
- `render_overlay(crop, cluster_map)`: the map in the jet colormap blended 50/50 over the image.
Both return JPEG bytes with sides ≤ 1280 px (Telegram's photo limits) and take a few
milliseconds, so the bot can render per request in a worker thread.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter
from scipy.ndimage import gaussian_filter, uniform_filter

from engine.hints import HINT_LEVELS

DISPLAY_SIDE = 512  # the game's picture size in the paper
MAX_SIDE = 1280  # Telegram photo limit
JPEG_QUALITY = 90
OVERLAY_ALPHA = 0.5

# The mask's soft edge: a Gaussian of 0.15 map cell, cut off at 1.5σ. A wider feather dims the
# corners of a lone revealed cell (a quarter cell lost 17% of two lone cells of a 7×7 map), so
# the share a player sees would drift from the level's share; cutting the kernel at 1.5σ keeps
# the edge local, as the game's original renderer did.
FEATHER_PER_CELL = 0.15
FEATHER_TRUNCATE = 1.5
LIT = 0.5  # a pixel at half brightness or more counts as revealed
# The number of cells to reveal is searched at this many pixels per cell at most (enough for the
# feather to be resolved), then the mask is drawn once at the display size.
SEARCH_PIXELS_PER_CELL = 12
SEARCH_MAX_SIDE = 256

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


def feather_sigma(map_shape: tuple[int, int], size: tuple[int, int]) -> float:
    """σ (pixels) of the mask's soft edge for a map of `map_shape` (h, w) shown at `size` (w, h)."""
    cell = (size[0] / map_shape[1] + size[1] / map_shape[0]) / 2.0
    return FEATHER_PER_CELL * cell


def cell_ranks(cluster_map: np.ndarray) -> np.ndarray:
    """int [h, w]: 0 for the map's highest cell, 1 for the next... (a total order).

    Equal values (a flat, all-zero part of the map) are ordered by their neighbourhood's mean, so
    a level that must reveal some of them grows next to what is already shown; then by position.
    """
    values = np.nan_to_num(np.asarray(cluster_map, dtype=np.float64))
    if values.ndim != 2 or values.size == 0:
        raise ValueError(f"a cluster map is 2-D and not empty, got shape {values.shape}")
    neighbourhood = uniform_filter(values, size=3, mode="nearest")
    order = np.lexsort((np.arange(values.size), -neighbourhood.ravel(), -values.ravel()))
    ranks = np.empty(values.size, dtype=np.int64)
    ranks[order] = np.arange(values.size)
    return ranks.reshape(values.shape)


def _tile(cells: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`cells` [h, w] upsampled nearest-neighbour to `size` (w, h): each cell covers exactly its
    share of the picture, so the map lines up with the whole picture."""
    h, w = cells.shape
    rows = np.minimum((np.arange(size[1]) + 0.5) * h / size[1], h - 1).astype(np.int64)
    cols = np.minimum((np.arange(size[0]) + 0.5) * w / size[0], w - 1).astype(np.int64)
    return cells[rows[:, None], cols[None, :]]


def _feathered(shown: np.ndarray, sigma: float) -> np.ndarray:
    """float32 in [0, 1]: the 0/1 mask with its soft edge."""
    mask = shown.astype(np.float32)
    if sigma <= 0:
        return mask
    return np.clip(gaussian_filter(mask, sigma, truncate=FEATHER_TRUNCATE, mode="nearest"), 0, 1)


def lit_share(mask: np.ndarray | Image.Image) -> float:
    """Percentage of pixels revealed at half brightness or more."""
    values = np.asarray(mask)
    if values.dtype == np.uint8:  # an 8-bit mask or picture: 255 is full brightness
        values = values / 255.0
    return float((values >= LIT).mean() * 100.0)


def _work_size(map_shape: tuple[int, int]) -> tuple[int, int]:
    """(w, h) at which masks are computed: a whole number of pixels per cell, enough for the
    soft edge; the mask is then resized to the picture (blurring 512² directly is 10× slower)."""
    h, w = map_shape
    per_cell = max(1, min(SEARCH_PIXELS_PER_CELL, SEARCH_MAX_SIDE // max(h, w)))
    return w * per_cell, h * per_cell


def cells_to_reveal(ranks: np.ndarray, percent: float) -> int:
    """How many of the highest cells to reveal so that `percent` % of the picture is lit.

    The lit share grows with the number of cells, so a binary search finds the smallest count
    that reaches `percent`; then that count or one less, whichever lands closer. A larger
    percentage never gives fewer cells, so every hint shows at least what the previous one did.
    """
    size = _work_size(ranks.shape)
    tiled = _tile(ranks, size)
    sigma = feather_sigma(ranks.shape, size)
    lit: dict[int, float] = {}

    def share(k: int) -> float:
        if k not in lit:
            lit[k] = lit_share(_feathered(tiled < k, sigma)) if k > 0 else 0.0
        return lit[k]

    lo, hi = 1, ranks.size
    while lo < hi:
        mid = (lo + hi) // 2
        if share(mid) >= percent:
            hi = mid
        else:
            lo = mid + 1
    if lo > 1 and percent - share(lo - 1) < share(lo) - percent:
        return lo - 1
    return lo


def reveal_mask(cluster_map: np.ndarray, size: tuple[int, int], hint_level: int) -> Image.Image:
    """The 8-bit mask (255 = visible) revealing the top q % of the map, q = HINT_LEVELS[level].

    The map's highest cells are revealed until q % of the picture is lit (at half brightness or
    more), with a soft edge of 0.15 cell. Nothing is rescaled, so what is lit is what the
    level promises, whatever the map's resolution.
    """
    if not 0 <= hint_level < len(HINT_LEVELS):
        raise ValueError(f"hint_level must be in 0..{len(HINT_LEVELS) - 1}")
    ranks = cell_ranks(cluster_map)
    count = cells_to_reveal(ranks, HINT_LEVELS[hint_level])
    work = _work_size(ranks.shape)
    feathered = _feathered(_tile(ranks, work) < count, feather_sigma(ranks.shape, work))
    mask = Image.fromarray(np.round(feathered * 255).astype(np.uint8), mode="L")
    # Bilinear weights are positive, so a pixel brighter at one hint stays brighter at the next.
    return mask if work == size else mask.resize(size, Image.Resampling.BILINEAR)


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


def render_photo(
    crop: Image.Image | np.ndarray, *, side: int = DISPLAY_SIDE, quality: int = JPEG_QUALITY
) -> bytes:
    """JPEG bytes: the whole crop, nothing hidden (what the game shows once a challenge ends)."""
    return _jpeg(_display(crop, side), quality)


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
